import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireLock, bindTargets, LOCK_FILE, portCollisions } from "./preflight.ts";

const ports = {
  AI_HOST: "::",
  AI_PORT: 3000,
  SYNC_STATUS_PORT: 18790,
  GATEWAY_HOST: "0.0.0.0",
  GATEWAY_PORT: 3000,
};
const entries = (names: string[]) => names.map((name, i) => ({ name, command: "x", line: i + 1 }));

describe("preflight", () => {
  test("only the selected known processes are bound; a shared port is named once per pair", () => {
    expect(bindTargets(entries(["gateway", "web"]), ports).map((t) => t.proc)).toEqual(["gateway"]);
    expect(portCollisions(bindTargets(entries(["gateway", "sync"]), ports))).toEqual([]);
    expect(portCollisions(bindTargets(entries(["ai", "sync", "gateway"]), ports))).toEqual([
      "  - AI_PORT and GATEWAY_PORT are both 3000: ai and gateway cannot share a port. Fix: give each its own port",
    ]);
  });

  test("the DATA_DIR lock: taken, refused while its holder runs, taken over when stale or unreadable, released", () => {
    const dir = mkdtempSync(join(tmpdir(), "pipbot-lock-"));
    try {
      const path = join(dir, LOCK_FILE);
      const first = acquireLock(dir, 100, () => true, new Date(0));
      expect(first.ok).toBe(true);
      expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({
        pid: 100,
        startedAt: "1970-01-01T00:00:00.000Z",
      });
      expect(acquireLock(dir, 200, (pid) => pid === 100)).toEqual({
        ok: false,
        holder: { pid: 100, startedAt: "1970-01-01T00:00:00.000Z" },
        path,
      });
      const second = acquireLock(dir, 200, () => false);
      expect(second).toMatchObject({ ok: true, stale: { pid: 100 } });
      if (first.ok) first.release(); // not its lock any more: left alone
      expect(JSON.parse(readFileSync(path, "utf8")).pid).toBe(200);
      writeFileSync(path, "{half a wri");
      expect(acquireLock(dir, 300, () => true)).toMatchObject({ ok: true, stale: { pid: 0 } });
      const third = acquireLock(join(dir, "fresh", "nested"), 400, () => true);
      if (third.ok) third.release();
      expect(existsSync(join(dir, "fresh", "nested", LOCK_FILE))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
