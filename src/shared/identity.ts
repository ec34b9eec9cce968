/**
 * Who is running: version, git SHA and build time (baked into the image at build time as
 * build-info.json, or PIPBOT_GIT_SHA / PIPBOT_BUILD_TIME), plus the Fly machine identity.
 * Logged once at startup by every process: how an operator knows which image a machine runs.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT_DIR = resolve(import.meta.dir, "..", "..");

export interface BuildInfo {
  version: string;
  gitSha: string;
  buildTime: string;
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * The git directory of a checkout at `root` and its common directory (where shared refs live):
 * `.git` is the directory in a plain clone; in a worktree (`git worktree add`) or a submodule
 * `.git` is a file `gitdir: <path>` (relative to `root` or absolute), and that directory's
 * `commondir` file names the main repository's git directory (relative to it).
 */
function gitDirs(root: string): { gitDir: string; commonDir: string } | undefined {
  const dotGit = join(root, ".git");
  let gitDir = dotGit;
  try {
    if (statSync(dotGit).isFile()) {
      const line = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, "utf8"))?.[1]?.trim();
      if (!line) return undefined;
      gitDir = resolve(root, line);
    }
  } catch {
    return undefined;
  }
  const common = readText(join(gitDir, "commondir"))?.trim();
  return { gitDir, commonDir: common ? resolve(gitDir, common) : gitDir };
}

/**
 * The commit checked out at `root`, read from the files git keeps (no `git` process: this runs at
 * every process's startup): HEAD (a detached SHA, or `ref: refs/heads/x`), the ref loose in the
 * worktree's own git directory or in the common one, else in the common `packed-refs`. Undefined
 * when there is no checkout or the ref cannot be read (e.g. reftable storage, an unborn branch).
 */
function readGitSha(root: string): string | undefined {
  const dirs = gitDirs(root);
  if (!dirs) return undefined;
  let head = readText(join(dirs.gitDir, "HEAD"))?.trim();
  // A symbolic ref may point at another one (rare); follow a few hops.
  for (let hop = 0; hop < 5 && head?.startsWith("ref: "); hop++) {
    const ref = head.slice(5).trim();
    head =
      readText(join(dirs.gitDir, ref))?.trim() ??
      readText(join(dirs.commonDir, ref))?.trim() ??
      readText(join(dirs.commonDir, "packed-refs"))
        ?.split("\n")
        .find((l) => l.endsWith(` ${ref}`))
        ?.split(" ")[0];
  }
  return head && SHA.test(head) ? head : undefined;
}

export function buildInfo(env: Record<string, string | undefined> = process.env, root = ROOT_DIR): BuildInfo {
  let baked: Partial<BuildInfo> = {};
  const file = join(root, "build-info.json");
  if (existsSync(file)) {
    try {
      baked = JSON.parse(readFileSync(file, "utf8")) as Partial<BuildInfo>;
    } catch {
      baked = {};
    }
  }
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  return {
    version: baked.version ?? pkg.version,
    gitSha: env.PIPBOT_GIT_SHA ?? baked.gitSha ?? readGitSha(root) ?? "unknown",
    buildTime: env.PIPBOT_BUILD_TIME ?? baked.buildTime ?? "unknown",
  };
}

export interface Identity extends BuildInfo {
  flyImageRef: string | null;
  flyMachineId: string | null;
  flyRegion: string | null;
  flyAppName: string | null;
  mode: string;
  processes: string[];
  bun: string;
}

/** The fields of the startup identity line. */
export function identity(
  processes: string[],
  env: Record<string, string | undefined> = process.env,
  root = ROOT_DIR,
): Identity {
  return {
    ...buildInfo(env, root),
    flyImageRef: env.FLY_IMAGE_REF ?? null,
    flyMachineId: env.FLY_MACHINE_ID ?? null,
    flyRegion: env.FLY_REGION ?? null,
    flyAppName: env.FLY_APP_NAME ?? null,
    mode: env.PIPBOT_MODE ?? "integrated",
    processes,
    bun: Bun.version,
  };
}
