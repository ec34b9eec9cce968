/**
 * deploy/entrypoint.sh, run for real: as root it hands a root-owned data directory (a fresh Fly
 * volume) to the app user and execs the command as that user; it refuses system/shared
 * directories and uid 0. Every DATA_DIR here is a PRIVATE temp directory: as root the script
 * chowns DATA_DIR recursively, so a shared path (e.g. /tmp) must never reach it from a test.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir } from "../helpers/index.ts";

const SCRIPT = join(ROOT, "deploy/entrypoint.sh");
const isRoot = process.getuid?.() === 0;
const temps: { cleanup(): void }[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) t.cleanup();
});

/** A private data dir under a fresh temp dir that other users may traverse. */
function privateDataDir(name = "data"): string {
  const dir = tempDir("pipbot-entrypoint-");
  temps.push(dir);
  chmodSync(dir.path, 0o755);
  return join(dir.path, name);
}

async function run(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn(["/bin/sh", SCRIPT, ...args], {
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { out: out.trim(), err, code };
}

describe("deploy/entrypoint.sh", () => {
  test("without a command it fails clearly", async () => {
    const res = await run([], { DATA_DIR: privateDataDir() });
    expect(res.code).toBe(64);
    expect(res.err).toContain("no command given");
  });

  test.skipIf(!isRoot)(
    "as root: chowns a root-owned DATA_DIR to PIPBOT_UID and runs the command as that user",
    async () => {
      const data = privateDataDir();
      mkdirSync(join(data, "old"), { recursive: true });
      chownSync(data, 0, 0);
      const res = await run(["/bin/sh", "-c", 'id -u; id -g; touch "$DATA_DIR/new.db" && echo wrote'], {
        DATA_DIR: data,
        PIPBOT_UID: "10001",
        PIPBOT_GID: "10001",
      });
      expect(res.err).toBe("");
      expect(res.out.split("\n")).toEqual(["10001", "10001", "wrote"]);
      expect(statSync(data).uid).toBe(10001);
      expect(statSync(join(data, "old")).uid).toBe(10001);
      expect(statSync(join(data, "new.db")).uid).toBe(10001);
      expect(res.code).toBe(0);
    },
  );

  test.skipIf(!isRoot)("as root: creates a missing DATA_DIR; refuses PIPBOT_UID=0", async () => {
    const data = privateDataDir("fresh");
    const ok = await run(["/usr/bin/id", "-u"], { DATA_DIR: data, PIPBOT_UID: "10002", PIPBOT_GID: "10002" });
    expect(ok.out).toBe("10002");
    expect(statSync(data).uid).toBe(10002);
    const refused = await run(["/usr/bin/id", "-u"], { DATA_DIR: privateDataDir(), PIPBOT_UID: "0" });
    expect(refused.code).toBe(64);
    expect(refused.err).toContain("refusing to run pipbot as root");
  });

  test.skipIf(!isRoot)("as root: refuses to take ownership of a system or shared directory", async () => {
    // PIPBOT_UID=0 is a second safety net: even if the directory guard were broken, the uid
    // check would still stop the script before any chown (with a different message).
    for (const data of ["/", "/tmp", "/etc", "/usr/lib"]) {
      const res = await run(["/usr/bin/id", "-u"], { DATA_DIR: data, PIPBOT_UID: "0", PIPBOT_GID: "0" });
      expect(`${data}: ${res.code} ${res.err.trim()}`).toBe(
        `${data}: 64 entrypoint: refusing to take ownership of DATA_DIR=${data} (use a dedicated directory such as /data)`,
      );
    }
  });

  test("passes the command's exit code through", async () => {
    const res = await run(["/bin/sh", "-c", "exit 7"], {
      DATA_DIR: privateDataDir(),
      PIPBOT_UID: "10003",
      PIPBOT_GID: "10003",
    });
    expect(res.code).toBe(7);
  });
});
