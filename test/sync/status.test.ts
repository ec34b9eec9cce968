import { describe, expect, test } from "bun:test";
import { buildStatus, statusHandler } from "../../src/sync/status.ts";

const stats = { pending: 3, oldestPendingAt: 1_000, quarantined: 1, delivered: 7, lastSeq: 11 };

describe("status", () => {
  test("the /status shape of contracts.md", () => {
    const s = buildStatus(
      { state: "backing_off", lastSuccessAt: 900, lastError: { at: 950, message: "HTTP 503", status: 503 } },
      stats,
      4_000,
    );
    expect(s).toEqual({
      state: "backing_off",
      pending: 3,
      oldestPendingAgeMs: 3_000,
      lastSuccessAt: 900,
      lastError: { at: 950, message: "HTTP 503", status: 503 },
      quarantined: 1,
      delivered: 7,
    });
    expect(
      buildStatus(
        { state: "idle", lastSuccessAt: null, lastError: null },
        { ...stats, oldestPendingAt: null },
        5,
      ).oldestPendingAgeMs,
    ).toBeNull();
  });

  test("routes: /healthz, /status, /quarantine, 404, 405, and a store failure is a 503 not a crash", async () => {
    const src = {
      status: () => buildStatus({ state: "idle", lastSuccessAt: null, lastError: null }, stats, 2_000),
      quarantined: () => [{ seq: 4, messageId: "m-4", lastError: "HTTP 400", at: 5 }],
    };
    const app = statusHandler(src);
    const get = (p: string, method = "GET") => app(new Request(`http://127.0.0.1${p}`, { method }));
    expect(await get("/healthz").json()).toEqual({ ok: true });
    expect(((await get("/status").json()) as { state: string }).state).toBe("idle");
    expect(await get("/quarantine").json()).toEqual({ entries: src.quarantined() });
    expect(get("/nope").status).toBe(404);
    expect(get("/status", "POST").status).toBe(405);
    const broken = statusHandler({
      status: () => {
        throw new Error("database is locked");
      },
      quarantined: () => [],
    });
    const r = broken(new Request("http://127.0.0.1/status"));
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: { message: string } }).error.message).toContain("locked");
  });
});
