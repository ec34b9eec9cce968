/**
 * `pipbot release`, `release rollback <tag>` and `release list` as functions of their inputs: the
 * settings main.ts derived from argv and the environment, an `exec` for external tools, a
 * `which` to see which tools exist, and two print functions. Exit codes: 0 success, 1 a step
 * failed (named, with its exit code), 2 usage.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import {
  type BackupTool,
  CONFIG_FOR_MODE,
  checkAppName,
  checkBackupRepo,
  checkTag,
  type Mode,
  PROVISIONING_CMD_HELP,
  planRelease,
  planRollback,
  releaseTag,
  rolloutCommands,
  shellQuote,
} from "./plan.ts";
import {
  appendRecord,
  formatRecords,
  previousRelease,
  type ReleaseRecord,
  readRecords,
} from "./release-log.ts";
import { type Exec, query, runSteps, StepError, type StepFailure } from "./steps.ts";

export interface Ctx {
  cwd: string;
  exec: Exec;
  which: (tool: string) => boolean;
  out: (line: string) => void;
  err: (line: string) => void;
  now: () => Date;
  logPath: string;
  /** PIPBOT_PROVISIONING_CMD; null when unset (an integrated release then refuses to start). */
  provisioningTemplate: string | null;
}

export class ReleaseUsageError extends Error {}

/** The Fly config for a mode and the app it deploys (--app wins over the config's `app`). */
export function resolveTarget(
  ctx: Ctx,
  mode: Mode,
  appFlag: string | undefined,
): { config: string; app: string } {
  const config = CONFIG_FOR_MODE[mode];
  const path = join(ctx.cwd, config);
  if (!existsSync(path)) {
    throw new ReleaseUsageError(
      `${config} not found in ${ctx.cwd}: run pipbot release from the repository root`,
    );
  }
  let app = appFlag;
  if (!app) {
    const parsed = Bun.TOML.parse(readFileSync(path, "utf8")) as { app?: unknown };
    if (typeof parsed.app !== "string" || parsed.app === "") {
      throw new ReleaseUsageError(`${config} has no app = "…": pass --app NAME`);
    }
    app = parsed.app;
  }
  const bad = checkAppName(app);
  if (bad) throw new ReleaseUsageError(bad);
  return { config, app };
}

/**
 * Dockerfile.nix builds node_modules as a fixed-output derivation pinned by
 * deploy/nix-deps.json for one bun.lock: a stale pin fails the remote build after minutes, so
 * check it before building. null when fine, else the problem and its fix.
 */
export function staleNixDeps(cwd: string): string | null {
  const pinPath = join(cwd, "deploy", "nix-deps.json");
  const lockPath = join(cwd, "bun.lock");
  if (!existsSync(pinPath) || !existsSync(lockPath)) {
    return "deploy/nix-deps.json or bun.lock is missing: the Nix image cannot pin node_modules";
  }
  let pinned: unknown;
  try {
    pinned = (JSON.parse(readFileSync(pinPath, "utf8")) as { bunLockSha256?: unknown }).bunLockSha256;
  } catch (e) {
    return `deploy/nix-deps.json is not valid JSON: ${(e as Error).message}`;
  }
  const actual = new Bun.CryptoHasher("sha256").update(readFileSync(lockPath)).digest("hex");
  if (pinned === actual) return null;
  return (
    "deploy/nix-deps.json was computed for another bun.lock (dependencies changed): the Nix build would fail.\n" +
    "  Fix: run `nix build .#nodeModules`, copy the `got: sha256-…` hash into nodeModulesHash and set\n" +
    `  bunLockSha256 to ${actual} (see docs/DEPLOY.md, "Nix")`
  );
}

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
  if (o.noBackup && o.backupRepo) {
    throw new ReleaseUsageError("--no-backup and a backup repository exclude each other");
  }
  if (!o.noBackup && !o.backupRepo) {
    throw new ReleaseUsageError(
      "no backup registry: pass --backup-repo ghcr.io/OWNER/NAME (or set PIPBOT_BACKUP_REPO), " +
        "or --no-backup to skip the copy",
    );
  }
  if (o.backupRepo) {
    const bad = checkBackupRepo(o.backupRepo);
    if (bad) throw new ReleaseUsageError(bad);
  }
  const { config, app } = resolveTarget(ctx, o.mode, o.app);
  if (o.mode === "integrated" && !ctx.provisioningTemplate) {
    // A release is complete only when provisioning stores the new ref: know how before building.
    if (!o.dryRun) throw new ReleaseUsageError(PROVISIONING_CMD_HELP);
    ctx.err(`warning: ${PROVISIONING_CMD_HELP}`);
  }
  if (o.mode === "separate") {
    const stale = staleNixDeps(ctx.cwd);
    if (stale) {
      ctx.err(stale);
      if (!o.dryRun) return 1;
    }
  }

  // Tools first: fail before building anything that could not be backed up.
  if (!ctx.which("fly")) {
    ctx.err("fly (flyctl) is not on PATH: install it (fly.io/docs/flyctl/install) and run `fly auth login`");
    if (!o.dryRun) return 1;
  }
  let backupTool: BackupTool | null = null;
  if (o.backupRepo) {
    backupTool = ctx.which("skopeo") ? "skopeo" : ctx.which("docker") ? "docker" : null;
    if (!backupTool) {
      ctx.err("neither skopeo nor docker is on PATH: cannot copy the image to the backup registry");
      if (!o.dryRun) return 1;
    }
  }

  let sha: string;
  let dirtyFiles: string[];
  try {
    sha = (await query(ctx.exec, "git", ["git", "rev-parse", "HEAD"])).trim();
    const logRel = relative(ctx.cwd, ctx.logPath);
    dirtyFiles = (await query(ctx.exec, "git", ["git", "status", "--porcelain"]))
      .split("\n")
      .filter((l) => l.trim() !== "")
      .filter((l) => l.slice(3).trim() !== logRel);
  } catch (e) {
    if (e instanceof StepError) {
      ctx.err(e.message);
      return 1;
    }
    throw e;
  }
  if (!/^[0-9a-f]{40}$/.test(sha)) {
    ctx.err(`step "git": git rev-parse HEAD returned "${sha}", not a commit SHA: is this a git checkout?`);
    return 1;
  }
  const dirty = dirtyFiles.length > 0;
  if (dirty && !o.allowDirty) {
    const shown = dirtyFiles.slice(0, 10).map((l) => `  ${l}`);
    if (dirtyFiles.length > 10) shown.push(`  … and ${dirtyFiles.length - 10} more`);
    const count = `${dirtyFiles.length} path${dirtyFiles.length === 1 ? "" : "s"}`;
    ctx.err(
      `the work tree has uncommitted changes (${count}):\n${shown.join("\n")}\n` +
        "The image would match no commit. Commit (or stash) them, or pass --allow-dirty to release anyway.",
    );
    return 1;
  }

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
  const failure = await runSteps(plan.steps, ctx.exec, ctx.out, o.dryRun);
  const rollout = rolloutCommands({ ...plan, provisioningTemplate: ctx.provisioningTemplate });

  if (o.dryRun) {
    ctx.out("");
    ctx.out("[dry-run] nothing was built, pushed, copied or recorded. A real run would print:");
    ctx.out(`  image  ${plan.ref}`);
    for (const [what, command] of rollout) ctx.out(`  ${what}\n    ${command}`);
    return 0;
  }

  const { tag, ref, backupRef } = plan;
  const attempt = { action: "release" as const, mode: o.mode, app, config, tag, ref, sha, dirty, backupRef };
  const logged = record(ctx, attempt, "released", failure);

  if (failure) {
    ctx.err(`step "${failure.step}" failed (exit ${failure.code}): ${failure.command}`);
    if (failure.completed.includes("build")) {
      ctx.err(`${plan.ref} WAS pushed, but its backup copy failed:`);
      ctx.err(`do not point provisioning at it until ${plan.backupRef} exists.`);
      const retry = plan.steps.filter((s) => !failure.completed.includes(s.name) && s.name !== "build");
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
