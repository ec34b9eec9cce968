/**
 * Who is running: version, git SHA and build time (baked into the image at build time as
 * build-info.json, or PIPBOT_GIT_SHA / PIPBOT_BUILD_TIME), plus the Fly machine identity.
 * Logged once at startup by every process: how an operator knows which image a machine runs.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT_DIR = resolve(import.meta.dir, "..", "..");

export interface BuildInfo {
  version: string;
  gitSha: string;
  buildTime: string;
}

function readGitSha(root: string): string | undefined {
  try {
    const head = readFileSync(join(root, ".git", "HEAD"), "utf8").trim();
    if (!head.startsWith("ref: ")) return head;
    const ref = head.slice(5);
    const loose = join(root, ".git", ref);
    if (existsSync(loose)) return readFileSync(loose, "utf8").trim();
    const packed = readFileSync(join(root, ".git", "packed-refs"), "utf8");
    return packed
      .split("\n")
      .find((l) => l.endsWith(` ${ref}`))
      ?.split(" ")[0];
  } catch {
    return undefined;
  }
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
