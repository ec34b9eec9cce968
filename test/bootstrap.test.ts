/**
 * `./pipbot`, the bootstrap behind the README's two commands, on a machine where Bun is not on PATH
 * (a fresh machine with only Node/npm, where `./pipbot` installs Bun into ./.tools): the Procfile's
 * children run `bun …`, so the bootstrap must put the Bun it found on PATH for everything it starts.
 */
import { afterAll, expect, test } from "bun:test";
import { symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, spawnCaptured, tempDir } from "./helpers/index.ts";

const dir = tempDir("pipbot-bootstrap-");
afterAll(() => dir.cleanup());

/** A PATH with the few tools the bootstrap script needs, and no Bun. */
function pathWithoutBun(): string {
  const bin = join(dir.path, "bin");
  Bun.spawnSync(["mkdir", "-p", bin]);
  for (const tool of ["sh", "dirname", "env"]) {
    const found = Bun.which(tool);
    if (!found) throw new Error(`test needs ${tool} on PATH`);
    symlinkSync(found, join(bin, tool));
  }
  return bin;
}

test("Bun reachable only by path (BUN=…/bun, not on PATH): Procfile children still find `bun`", async () => {
  const path = pathWithoutBun();
  const toolsBin = join(dir.path, "tools");
  Bun.spawnSync(["mkdir", "-p", toolsBin]);
  symlinkSync(process.execPath, join(toolsBin, "bun"));
  const procfile = join(dir.path, "Procfile");
  // The child prints which bun it got, then stays up until the supervisor stops it.
  writeFileSync(
    procfile,
    `probe: bun -e "console.log('child-bun=' + process.execPath); setInterval(() => {}, 1000)"\n`,
  );

  const run = spawnCaptured(
    [join(ROOT, "pipbot"), "start", "--procfile", procfile],
    {
      PATH: path,
      HOME: process.env.HOME ?? "/tmp",
      BUN: join(toolsBin, "bun"),
      DATA_DIR: join(dir.path, "data"),
      SUPERVISOR_READY_UPTIME_MS: "100",
    },
    { cwd: ROOT },
  );
  try {
    const m = await run.waitForOutput(/child-bun=(\S+?)["\s]/, 30_000);
    expect(m[1]).toBeTruthy();
    expect(run.output()).not.toContain("Executable not found");
  } finally {
    run.kill("SIGTERM");
  }
  expect(await run.exited).toBe(0);
});
