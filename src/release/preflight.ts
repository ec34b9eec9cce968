/**
 * Everything a release checks before it builds anything: the Fly config and app, the backup
 * options, the provisioning command, the Nix dependency pin, the external tools, and the git
 * work tree (commit SHA, uncommitted changes). Usage problems throw ReleaseUsageError; the
 * others are printed, and stop a real release (a dry run goes on to print its plan).
 */
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { type Ctx, ReleaseUsageError } from "./context.ts";
import {
  type BackupTool,
  CONFIG_FOR_MODE,
  checkAppName,
  checkBackupRepo,
  type Mode,
  PROVISIONING_CMD_HELP,
} from "./plan.ts";
import { query, StepError } from "./steps.ts";

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

export interface ReleaseTarget {
  config: string;
  app: string;
  /** How the image is copied to the backup registry; null with --no-backup (or none on PATH in a dry run). */
  backupTool: BackupTool | null;
}

/**
 * The release's target and backup tool, checked before git is even read. null when a check
 * failed (already printed) and the release must stop with exit 1.
 */
export function checkRelease(
  ctx: Ctx,
  o: { mode: Mode; app?: string; backupRepo: string | null; noBackup: boolean; dryRun: boolean },
): ReleaseTarget | null {
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
      if (!o.dryRun) return null;
    }
  }

  // Tools first: fail before building anything that could not be backed up.
  if (!ctx.which("fly")) {
    ctx.err("fly (flyctl) is not on PATH: install it (fly.io/docs/flyctl/install) and run `fly auth login`");
    if (!o.dryRun) return null;
  }
  let backupTool: BackupTool | null = null;
  if (o.backupRepo) {
    backupTool = ctx.which("skopeo") ? "skopeo" : ctx.which("docker") ? "docker" : null;
    if (!backupTool) {
      ctx.err("neither skopeo nor docker is on PATH: cannot copy the image to the backup registry");
      if (!o.dryRun) return null;
    }
  }
  return { config, app, backupTool };
}

/**
 * The commit to release and whether the work tree has changes (the release log itself aside).
 * null when git failed or the tree is dirty without --allow-dirty (already printed).
 */
export async function checkWorkTree(
  ctx: Ctx,
  allowDirty: boolean,
): Promise<{ sha: string; dirty: boolean } | null> {
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
      return null;
    }
    throw e;
  }
  if (!/^[0-9a-f]{40}$/.test(sha)) {
    ctx.err(`step "git": git rev-parse HEAD returned "${sha}", not a commit SHA: is this a git checkout?`);
    return null;
  }
  const dirty = dirtyFiles.length > 0;
  if (dirty && !allowDirty) {
    const shown = dirtyFiles.slice(0, 10).map((l) => `  ${l}`);
    if (dirtyFiles.length > 10) shown.push(`  … and ${dirtyFiles.length - 10} more`);
    const count = `${dirtyFiles.length} path${dirtyFiles.length === 1 ? "" : "s"}`;
    ctx.err(
      `the work tree has uncommitted changes (${count}):\n${shown.join("\n")}\n` +
        "The image would match no commit. Commit (or stash) them, or pass --allow-dirty to release anyway.",
    );
    return null;
  }
  return { sha, dirty };
}
