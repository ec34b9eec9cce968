/**
 * deploy/entrypoint.sh, run for real. As root it hands a root-owned VOLUME (a mount point) or a
 * directory it has just created to the app user and execs the command as that user; it refuses
 * system/shared directories, non-canonical paths, symlinks, plain directories it did not create,
 * and uid 0.
 *
 * Safety (an early version of this test chowned all of /tmp and broke the machine): `chown` and
 * `mountpoint` are FAKES on PATH that record every call. The fake chown only runs the real one
 * for a DATA_DIR inside this test's own temp directories; anything else is refused and recorded,
 * and every refusal test asserts that chown was never called. System paths are additionally
 * tried with PIPBOT_UID=0, which the script also refuses before any chown.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir } from "../helpers/index.ts";
import { runCaptured } from "./lib/run.ts";

const SCRIPT = join(ROOT, "deploy/entrypoint.sh");
const isRoot = process.getuid?.() === 0;
const temps: { path: string; cleanup(): void }[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) t.cleanup();
});

/** Fake chown/mountpoint, shared by all tests; real chown only below `safeRoot`. */
const tools = tempDir("pipbot-entrypoint-tools-");
const safeRoot = tempDir("pipbot-entrypoint-data-");
const BIN = join(tools.path, "bin");
const CALLS = join(tools.path, "calls.log");
let tmpOwner = -1;

beforeAll(() => {
  chmodSync(safeRoot.path, 0o755);
  mkdirSync(BIN);
  const fake = (name: string, body: string) => {
    writeFileSync(join(BIN, name), `#!/bin/sh\necho "${name} $*" >> '${CALLS}'\n${body}\n`);
    chmodSync(join(BIN, name), 0o755);
  };
  // The last argument of chown is the path: only paths inside safeRoot reach the real chown.
  fake(
    "chown",
    `for last in "$@"; do :; done
case "$last" in
  '${safeRoot.path}'/*) exec /usr/bin/chown "$@" ;;
  *) echo "fake chown: refused outside the test's temp dir: $last" >&2; exit 99 ;;
esac`,
  );
  fake("mountpoint", `[ "\${FAKE_MOUNTPOINT:-no}" = "yes" ]`);
  tmpOwner = statSync("/tmp").uid;
});

afterAll(() => {
  // Canary: whatever happened above, /tmp kept its owner.
  expect(statSync("/tmp").uid).toBe(tmpOwner);
  tools.cleanup();
  safeRoot.cleanup();
});

function calls(): string[] {
  if (!existsSync(CALLS)) return [];
  return readFileSync(CALLS, "utf8").split("\n").filter(Boolean);
}
const chownCalls = () => calls().filter((c) => c.startsWith("chown "));

/** A private directory under safeRoot (not created unless `create`). */
function dataDir(create = true): string {
  const path = mkdtempSync(join(safeRoot.path, "case-"));
  temps.push({ path, cleanup: () => rmSync(path, { recursive: true, force: true }) });
  chmodSync(path, 0o755);
  const d = join(path, "data");
  if (create) mkdirSync(d);
  return d;
}

async function run(args: string[], env: Record<string, string>, opts: { asUid?: number } = {}) {
  writeFileSync(CALLS, "");
  const base = ["/bin/sh", SCRIPT, ...args];
  const cmd =
    opts.asUid === undefined
      ? base
      : ["/usr/bin/setpriv", `--reuid=${opts.asUid}`, `--regid=${opts.asUid}`, "--clear-groups", ...base];
  const r = await runCaptured(cmd, { PATH: `${BIN}:/usr/sbin:/usr/bin:/sbin:/bin`, ...env });
  return { ...r, out: r.out.trim() };
}

const ID = ["/bin/sh", "-c", 'echo "$(id -u):$(id -g)"'];

describe("deploy/entrypoint.sh", () => {
  test("the script finds chown and mountpoint on PATH (so these fakes really stand in for them)", () => {
    const script = readFileSync(SCRIPT, "utf8");
    expect(script).not.toMatch(/\/(usr\/)?s?bin\/(chown|mountpoint)\b/);
    expect(script).toContain("chown -R -h --preserve-root");
    expect(script).toContain("mountpoint -q");
  });

  test("without a command it fails clearly", async () => {
    const res = await run([], { DATA_DIR: dataDir() });
    expect(res.code).toBe(64);
    expect(res.err).toContain("no command given");
  });

  test.skipIf(!isRoot)("started as non-root it only execs (no chown, whatever DATA_DIR says)", async () => {
    const res = await run(ID, { DATA_DIR: "/tmp", FAKE_MOUNTPOINT: "yes" }, { asUid: 10004 });
    expect(res.out).toBe("10004:10004");
    expect(res.code).toBe(0);
    expect(calls()).toEqual([]);
  });

  test.skipIf(!isRoot)(
    "as root on a volume (mount point): chowns it recursively without following symlinks, runs as 10001",
    async () => {
      const data = dataDir();
      mkdirSync(join(data, "old"));
      writeFileSync(join(data, "old", "pipbot.db"), "x");
      const outside = join(dataDir(), "outside.txt");
      writeFileSync(outside, "not yours");
      symlinkSync(outside, join(data, "link"));
      chownSync(data, 0, 0);
      const res = await run(["/bin/sh", "-c", 'id -u; id -g; touch "$DATA_DIR/new.db" && echo wrote'], {
        DATA_DIR: data,
        FAKE_MOUNTPOINT: "yes",
      });
      expect(res.err).toBe("");
      expect(res.out.split("\n")).toEqual(["10001", "10001", "wrote"]);
      expect(res.code).toBe(0);
      expect(chownCalls()).toEqual([`chown -R -h --preserve-root 10001:10001 ${data}`]);
      for (const p of ["", "old", "old/pipbot.db", "new.db"]) expect(statSync(join(data, p)).uid).toBe(10001);
      expect(lstatSync(join(data, "link")).uid).toBe(10001);
      expect(statSync(outside).uid).toBe(0); // the symlink's target was not touched
    },
  );

  test.skipIf(!isRoot)("as root: creates a missing DATA_DIR and hands over just that directory", async () => {
    const data = dataDir(false);
    const res = await run(ID, { DATA_DIR: data, PIPBOT_UID: "10002", PIPBOT_GID: "10003" });
    expect(res.out).toBe("10002:10003");
    expect(statSync(data).uid).toBe(10002);
    expect(statSync(data).gid).toBe(10003);
    expect(chownCalls()).toEqual([`chown -h 10002:10003 ${data}`]);
  });

  test.skipIf(!isRoot)("as root: a DATA_DIR the app user already owns is left alone", async () => {
    const data = dataDir();
    chownSync(data, 10001, 10001);
    const res = await run(ID, { DATA_DIR: data, FAKE_MOUNTPOINT: "yes" });
    expect(res.out).toBe("10001:10001");
    expect(chownCalls()).toEqual([]);
  });

  test.skipIf(!isRoot)("as root: refuses an existing plain directory it did not create", async () => {
    const data = dataDir();
    chownSync(data, 0, 0);
    const res = await run(ID, { DATA_DIR: data, FAKE_MOUNTPOINT: "no" });
    expect(res.code).toBe(78);
    expect(res.err).toContain("is not a mount point and was not created here");
    expect(chownCalls()).toEqual([]);
    expect(statSync(data).uid).toBe(0);
  });

  test.skipIf(!isRoot)("as root: refuses system/shared directories and non-canonical paths", async () => {
    const cases: [string, string][] = [
      ["/", "not a canonical path"],
      ["/tmp", "a system or shared directory"],
      ["/tmp/", "not a canonical path"],
      ["//tmp", "not a canonical path"],
      ["/tmp/.", "not a canonical path"],
      ["/tmp/x/..", "not a canonical path"],
      ["/var/tmp", "a system or shared directory"],
      ["/etc", "a system or shared directory"],
      ["/usr/lib", "a system or shared directory"],
      ["/app", "a system or shared directory"],
      ["/app/src", "a system or shared directory"],
      ["/home", "a system or shared directory"],
      ["data", "not an absolute path"],
    ];
    for (const [data, why] of cases) {
      // Worst case for the guard: "it is a mount point". PIPBOT_UID=0 is a second net.
      const res = await run(ID, { DATA_DIR: data, FAKE_MOUNTPOINT: "yes", PIPBOT_UID: "0", PIPBOT_GID: "0" });
      expect(`${data}: ${res.code} ${res.err.trim()}`).toBe(
        `${data}: 78 entrypoint: refusing to take ownership of DATA_DIR=${data}: ${why} (use a dedicated volume such as /data)`,
      );
      expect(calls()).toEqual([]);
    }
  });

  test.skipIf(!isRoot)("as root: refuses a DATA_DIR that is or passes through a symlink", async () => {
    const target = dataDir();
    const link = join(dataDir(), "link");
    symlinkSync(target, link);
    const direct = await run(ID, { DATA_DIR: link, FAKE_MOUNTPOINT: "yes" });
    expect(direct.code).toBe(78);
    expect(direct.err).toContain(`symlink to ${target}`);
    const through = await run(ID, { DATA_DIR: join(link, "sub"), FAKE_MOUNTPOINT: "yes" });
    expect(through.code).toBe(78);
    expect(through.err).toContain(`passes through a symlink to ${join(target, "sub")}`);
    expect(chownCalls()).toEqual([]);
  });

  test.skipIf(!isRoot)("as root: refuses PIPBOT_UID/GID 0 and non-numeric ids", async () => {
    for (const [uid, gid, msg] of [
      ["0", "10001", "refusing to run pipbot as root"],
      ["10001", "0", "refusing to run pipbot as root"],
      ["pipbot", "10001", "must be numeric"],
    ] as const) {
      const res = await run(ID, { DATA_DIR: dataDir(), PIPBOT_UID: uid, PIPBOT_GID: gid });
      expect(`${uid}:${gid} ${res.code}`).toBe(`${uid}:${gid} 78`);
      expect(res.err).toContain(msg);
    }
    expect(chownCalls()).toEqual([]);
  });

  test("passes the command's exit code through", async () => {
    const data = dataDir();
    if (isRoot) chownSync(data, 10003, 10003);
    const res = await run(["/bin/sh", "-c", "exit 7"], {
      DATA_DIR: data,
      PIPBOT_UID: "10003",
      PIPBOT_GID: "10003",
    });
    expect(res.code).toBe(7);
  });
});
