/**
 * `pipbot release`: build and push an immutable image tag with fly, copy it to a backup
 * registry, record it, and print the exact ref plus the commands that roll it out. The only
 * release file that reads the environment or spawns processes.
 */
import { resolve } from "node:path";
import { parseCommandArgs, UsageError } from "../shared/cli-args.ts";
import { list, release, rollback } from "./commands.ts";
import { type Ctx, ReleaseUsageError } from "./context.ts";
import { parseMode } from "./plan.ts";
import { DEFAULT_RELEASE_LOG } from "./release-log.ts";
import type { Exec, ExecResult } from "./steps.ts";

const USAGE = `usage: pipbot release [--mode integrated|separate] [--app NAME] [--backup-repo REPO | --no-backup]
                      [--allow-dirty] [--dry-run]
       pipbot release rollback <tag> [--mode integrated|separate] [--app NAME] [--dry-run]
       pipbot release list [--app NAME] [--json]
       pipbot release rollout … (fleet rollout through the Convex backend: docs/CONVEX.md)

Builds and pushes registry.fly.io/<app>:deploy-<UTC YYYYMMDDHHMMSS>-<sha7> with
\`fly deploy --build-only --push --image-label <tag>\` (integrated: fly-integrated.toml,
separate: fly.toml), copies it to the backup registry (skopeo, or docker pull/tag/push), appends
the attempt to the release log and prints the image ref and the commands that roll it out.
Run it from the repository root. A failing step stops the release (exit 1) and is recorded.

options:
  --mode MODE          integrated (default) or separate (the AI server app)
  --app NAME           Fly app (default: the config's app)
  --backup-repo REPO   backup repository, e.g. ghcr.io/OWNER/pipbot (default: $PIPBOT_BACKUP_REPO)
  --no-backup          skip the backup copy (not recommended: Fly does not keep old images forever)
  --allow-dirty        release a work tree with uncommitted changes (GIT_SHA gets a -dirty suffix)
  --dry-run            print every command without running it (git is still read for the tag)
  --json               (list) one JSON record per line

environment:
  PIPBOT_RELEASE_LOG       release log path (default ./${DEFAULT_RELEASE_LOG})
  PIPBOT_BACKUP_REPO       default --backup-repo
  PIPBOT_PROVISIONING_CMD  REQUIRED for an integrated release: the command that points your
                           provisioning backend at an image ref ({ref} is replaced), printed
                           after the release, e.g. 'npx convex env set PIPBOT_IMAGE {ref}'`;

const OPTIONS = {
  mode: { type: "string" },
  app: { type: "string" },
  "backup-repo": { type: "string" },
  "no-backup": { type: "boolean" },
  "allow-dirty": { type: "boolean" },
  "dry-run": { type: "boolean" },
  json: { type: "boolean" },
} as const;

function cleanEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function makeExec(env: Record<string, string>, cwd: string): Exec {
  return async (cmd, { capture }): Promise<ExecResult> => {
    const [name, ...args] = cmd;
    const bin = name ? Bun.which(name, { PATH: env.PATH ?? "" }) : null;
    if (!bin) return { code: 127, stdout: "", stderr: `${name ?? "(empty)"}: command not found on PATH` };
    try {
      if (!capture) {
        const io = { stdin: "ignore", stdout: "inherit", stderr: "inherit" } as const;
        const proc = Bun.spawn([bin, ...args], { cwd, env, ...io });
        return { code: await proc.exited, stdout: "", stderr: "" };
      }
      const proc = Bun.spawn([bin, ...args], { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const [stdout, stderr, code] = await Promise.all([
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
        proc.exited,
      ]);
      return { code, stdout, stderr };
    } catch (e) {
      return { code: 126, stdout: "", stderr: `${name}: ${(e as Error).message}` };
    }
  };
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "rollout") {
    const { rolloutMain } = await import("./rollout.ts");
    const out = (line: string) => void process.stdout.write(`${line}\n`);
    const err = (line: string) => void process.stderr.write(`${line}\n`);
    return rolloutMain(argv.slice(1), { env: cleanEnv(process.env), out, err });
  }
  const { values, positionals } = parseCommandArgs(argv, OPTIONS, USAGE, { positionals: 2 });
  const [sub, arg] = positionals;
  const env = cleanEnv(process.env);
  const cwd = process.cwd();
  const ctx: Ctx = {
    cwd,
    exec: makeExec(env, cwd),
    which: (tool) => Bun.which(tool, { PATH: env.PATH ?? "" }) !== null,
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`pipbot release: ${line}\n`),
    now: () => new Date(),
    logPath: resolve(cwd, env.PIPBOT_RELEASE_LOG?.trim() || DEFAULT_RELEASE_LOG),
    provisioningTemplate: env.PIPBOT_PROVISIONING_CMD?.trim() || null,
  };
  const mode = parseMode(values.mode);
  if (!mode) throw new UsageError(`--mode must be integrated or separate, not "${values.mode}"`, USAGE);
  try {
    if (sub === "list") {
      if (arg !== undefined) throw new UsageError(`unexpected argument: ${arg}`, USAGE);
      return list(ctx, { app: values.app, json: values.json === true });
    }
    if (sub === "rollback") {
      if (arg === undefined) {
        throw new UsageError("rollback needs the tag to deploy (see `pipbot release list`)", USAGE);
      }
      return await rollback(ctx, { mode, app: values.app, tag: arg, dryRun: values["dry-run"] === true });
    }
    if (sub !== undefined) throw new UsageError(`unknown subcommand "${sub}" (rollback, list)`, USAGE);
    if (arg !== undefined) throw new UsageError(`unexpected argument: ${arg}`, USAGE);
    return await release(ctx, {
      mode,
      app: values.app,
      backupRepo: values["backup-repo"] ?? (env.PIPBOT_BACKUP_REPO?.trim() || null),
      noBackup: values["no-backup"] === true,
      allowDirty: values["allow-dirty"] === true,
      dryRun: values["dry-run"] === true,
    });
  } catch (e) {
    if (e instanceof ReleaseUsageError) throw new UsageError(e.message, USAGE);
    throw e;
  }
}
