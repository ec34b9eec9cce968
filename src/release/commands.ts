/**
 * `pipbot release`, `release rollback <tag>` and `release list` as functions of their inputs (a
 * Ctx: see context.ts). The checks before a release builds anything are in preflight.ts. Exit
 * codes: 0 success, 1 a step failed (named, with its exit code), 2 usage.
 */
import { type Ctx, ReleaseUsageError } from "./context.ts";
import {
  checkTag,
  type Mode,
  planRelease,
  planRollback,
  releaseTag,
  rolloutCommands,
  shellQuote,
} from "./plan.ts";
import { checkRelease, checkWorkTree, resolveTarget } from "./preflight.ts";
import {
  appendRecord,
  formatRecords,
  previousRelease,
  type ReleaseRecord,
  readRecords,
} from "./release-log.ts";
import { runSteps, type StepFailure } from "./steps.ts";
import { VERIFY_STEP, verifyBackup, verifySteps } from "./verify.ts";

/** Append one attempt to the release log, stamped now, failed when `failure` is set. */
function record(
  ctx: Ctx,
  rec: Omit<ReleaseRecord, "time" | "status">,
  ok: ReleaseRecord["status"],
  failure: StepFailure | null,
): boolean {
  const full: ReleaseRecord = {
    time: new Date().toISOString(),
    ...rec,
    status: failure ? "failed" : ok,
    ...(failure ? { failedStep: failure.step, exitCode: failure.code } : {}),
  };
  try {
    appendRecord(ctx.logPath, full);
    return true;
  } catch (e) {
    ctx.err(`could not append to the release log ${ctx.logPath}: ${(e as Error).message}`);
    return false;
  }
}

export interface ReleaseOptions {
  mode: Mode;
  app?: string;
  backupRepo: string | null;
  noBackup: boolean;
  allowDirty: boolean;
  dryRun: boolean;
}

export async function release(ctx: Ctx, o: ReleaseOptions): Promise<number> {
  const target = checkRelease(ctx, o);
  if (!target) return 1;
  const { config, app, backupTool } = target;
  const tree = await checkWorkTree(ctx, o.allowDirty);
  if (!tree) return 1;
  const { sha, dirty } = tree;

  // Tags are immutable: never reuse one already in the log (two releases within one second).
  const { records: previous } = readRecords(ctx.logPath);
  const used = new Set(previous.filter((r) => r.app === app).map((r) => r.tag));
  let now = ctx.now();
  while (used.has(releaseTag(now, sha))) {
    await Bun.sleep(1000 - now.getUTCMilliseconds());
    now = ctx.now();
  }
  const plan = planRelease({
    mode: o.mode,
    app,
    config,
    sha,
    dirty,
    now,
    backupRepo: o.backupRepo,
    backupTool,
  });
  const from = `${sha.slice(0, 7)}${dirty ? " + uncommitted changes" : ""}`;
  ctx.out(`${o.dryRun ? "[dry-run] " : ""}Releasing pipbot (${o.mode}) from ${from} as ${plan.tag}`);
  let failure = await runSteps(plan.steps, ctx.exec, ctx.out, o.dryRun);
  const rollout = rolloutCommands({ ...plan, provisioningTemplate: ctx.provisioningTemplate });
  const checks =
    plan.backupRef && plan.backupTool ? verifySteps(plan.backupTool, plan.ref, plan.backupRef) : [];
  if (checks.length > 0 && (o.dryRun || !failure)) {
    ctx.out(
      `${o.dryRun ? "[dry-run] " : ""}==> ${VERIFY_STEP}: the backup must have the pushed image's digest`,
    );
    for (const c of checks) ctx.out(`    $ ${shellQuote(c.cmd)}`);
  }
  let digest: string | null = null;
  if (!o.dryRun && !failure && plan.backupRef && plan.backupTool) {
    const v = await verifyBackup(ctx.exec, plan.backupTool, plan.ref, plan.backupRef);
    if (v.ok) {
      digest = v.digest;
      ctx.out(`    same digest: ${digest}`);
    } else {
      ctx.err(v.message);
      failure = { step: v.step, code: v.code, command: v.command, completed: plan.steps.map((s) => s.name) };
    }
  }

  if (o.dryRun) {
    ctx.out("");
    ctx.out("[dry-run] nothing was built, pushed, copied or recorded. A real run would print:");
    ctx.out(`  image  ${plan.ref}`);
    for (const [what, command] of rollout) ctx.out(`  ${what}\n    ${command}`);
    return 0;
  }

  const { tag, ref, backupRef } = plan;
  const attempt = {
    action: "release" as const,
    mode: o.mode,
    app,
    config,
    tag,
    ref,
    sha,
    dirty,
    backupRef,
    ...(digest ? { digest } : {}),
  };
  const logged = record(ctx, attempt, "released", failure);

  if (failure) {
    ctx.err(`step "${failure.step}" failed (exit ${failure.code}): ${failure.command}`);
    if (failure.completed.includes("build")) {
      ctx.err(`${plan.ref} WAS pushed, but its backup copy failed:`);
      ctx.err(`do not point provisioning at it until ${plan.backupRef} exists.`);
      const retry =
        failure.step === VERIFY_STEP
          ? [...plan.steps.filter((s) => s.name === "backup copy"), ...checks]
          : plan.steps.filter((s) => !failure?.completed.includes(s.name) && s.name !== "build");
      ctx.err(`Retry the copy with:\n${retry.map((s) => `  ${shellQuote(s.cmd)}`).join("\n")}`);
    }
    ctx.err(`release ${plan.tag} FAILED${logged ? ` (recorded in ${ctx.logPath})` : ""}`);
    return 1;
  }
  if (!logged) {
    ctx.err(`${plan.ref} was built and backed up, but the release log could not be written`);
    return 1;
  }

  ctx.out("");
  ctx.out(`Released ${plan.ref}`);
  ctx.out(`  backup   ${plan.backupRef ?? "none (--no-backup)"}`);
  if (digest) ctx.out(`  digest   ${digest} (pushed and backup)`);
  ctx.out(`  commit   ${plan.buildSha}`);
  ctx.out(`  built    ${plan.buildTime}`);
  ctx.out(`  config   ${config} (app ${app}, mode ${o.mode})`);
  ctx.out("");
  for (const [what, command] of rollout) ctx.out(`${what}\n  ${command}`);
  const prev = previousRelease(readRecords(ctx.logPath).records, app, plan.tag);
  const modeFlag = o.mode === "separate" ? " --mode separate" : "";
  ctx.out(`Roll back: pipbot release rollback ${prev ? prev.tag : "<earlier tag>"}${modeFlag}`);
  return 0;
}

export interface RollbackOptions {
  mode: Mode;
  app?: string;
  tag: string;
  dryRun: boolean;
}

export async function rollback(ctx: Ctx, o: RollbackOptions): Promise<number> {
  const bad = checkTag(o.tag);
  if (bad) throw new ReleaseUsageError(bad);
  const { config, app } = resolveTarget(ctx, o.mode, o.app);
  if (!ctx.which("fly")) {
    ctx.err("fly (flyctl) is not on PATH: install it and run `fly auth login`");
    if (!o.dryRun) return 1;
  }
  const known = readRecords(ctx.logPath).records.some(
    (r) => r.app === app && r.tag === o.tag && r.action === "release" && r.status === "released",
  );
  if (!known) {
    ctx.err(`warning: ${o.tag} is not a successful release of ${app} in ${ctx.logPath}; deploying it anyway`);
  }

  const plan = planRollback({ mode: o.mode, app, config, tag: o.tag });
  ctx.out(`${o.dryRun ? "[dry-run] " : ""}Rolling ${app} back to ${plan.ref}`);
  const failure = await runSteps(plan.steps, ctx.exec, ctx.out, o.dryRun);
  // The deploy above already updated the app's own machines: what is left is everything else.
  const rollout = rolloutCommands({
    ...plan,
    provisioningTemplate: ctx.provisioningTemplate,
    deployed: true,
  });
  if (o.dryRun) {
    ctx.out("[dry-run] nothing was deployed or recorded. Then:");
    for (const [what, command] of rollout) ctx.out(`  ${what}\n    ${command}`);
    return 0;
  }
  const attempt = { action: "rollback" as const, mode: o.mode, app, config, tag: o.tag, ref: plan.ref };
  const logged = record(
    ctx,
    { ...attempt, sha: null, dirty: false, backupRef: null },
    "rolled-back",
    failure,
  );
  if (failure) {
    ctx.err(`step "${failure.step}" failed (exit ${failure.code}): ${failure.command}`);
    ctx.err(`rollback to ${o.tag} FAILED${logged ? ` (recorded in ${ctx.logPath})` : ""}`);
    return 1;
  }
  ctx.out("");
  ctx.out(`Rolled ${app}'s own machines back to ${plan.ref} (config and secrets are NOT rolled back).`);
  for (const [what, command] of rollout) ctx.out(`${what}\n  ${command}`);
  return logged ? 0 : 1;
}

export function list(ctx: Ctx, o: { app?: string; json: boolean }): number {
  const { records, unreadable } = readRecords(ctx.logPath);
  const shown = o.app ? records.filter((r) => r.app === o.app) : records;
  if (unreadable > 0) ctx.err(`warning: ${unreadable} unreadable line(s) in ${ctx.logPath}`);
  if (o.json) {
    for (const r of shown) ctx.out(JSON.stringify(r));
    return 0;
  }
  if (shown.length === 0) {
    ctx.out(`no releases recorded in ${ctx.logPath}`);
    return 0;
  }
  ctx.out(formatRecords(shown));
  return 0;
}
