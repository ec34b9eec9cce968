/**
 * sync-v1 on the wire: exact body, signing verified by the independent fake receiver (forged
 * signatures, tampered bodies and stale timestamps are rejected), replays change nothing, and the
 * answer classification.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { MessageOutboxEntry } from "../../src/shared/store/index.ts";
import { authHint } from "../../src/sync/outcome.ts";
import {
  buildBody,
  classifyResponse,
  encodeBatch,
  PUSH_PATH,
  type PushTarget,
  pushBatch,
} from "../../src/sync/push.ts";
import { signatureHex, signedHeaders } from "../../src/sync/sign.ts";
import { MAX_BODY_BYTES, type SyncReceiver, startSyncReceiver } from "../fakes/sync-receiver.ts";

const SECRET = "push-test-secret-abcdefghijklmnop";
const USER = "user_push";
let rx: SyncReceiver;
let target: PushTarget;

beforeAll(async () => {
  rx = await startSyncReceiver({ secret: SECRET, userId: USER });
  target = { siteUrl: rx.url, userId: USER, machineId: null, secret: SECRET, timeoutMs: 5_000 };
});
afterAll(async () => {
  await rx.stop();
});

let seq = 1000;
function entry(over: Partial<MessageOutboxEntry> = {}): MessageOutboxEntry {
  seq++;
  return {
    kind: "message",
    seq,
    id: crypto.randomUUID(),
    sessionKey: "agent:main:main",
    sessionId: "s-1",
    role: "user",
    content: [{ type: "text", text: `hello ${seq}` }],
    createdAt: 1_760_000_000_000 + seq,
    attempts: 2,
    bytes: 123,
    ...over,
  };
}

const deps = { fetch, now: Date.now };

/** POST a raw body with explicit headers (to forge). */
async function rawPush(body: string, headers: Record<string, string>, url = rx.url) {
  const res = await fetch(`${url}${PUSH_PATH}`, { method: "POST", body, headers });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe("body", () => {
  test("has exactly the sync-v1 keys; bookkeeping fields never leave the VM", () => {
    const a = entry({ role: "assistant", model: "openai/gpt", stopReason: "stop" });
    const b = buildBody([entry(), a], { userId: USER, machineId: "m1" }, "b-1");
    expect(Object.keys(b).sort()).toEqual(["batchId", "entries", "machineId", "userId"]);
    expect(Object.keys(b.entries[0]!).sort()).toEqual(
      ["content", "createdAt", "id", "role", "seq", "sessionId", "sessionKey"].sort(),
    );
    expect(Object.keys(b.entries[1]!)).toContain("model");
    expect(JSON.stringify(b)).not.toContain("attempts");
  });
});

describe("signing (verified by the receiver)", () => {
  test("a signed push is accepted and acked through its last seq", async () => {
    const es = [entry(), entry(), entry()];
    const r = await pushBatch(es, target, deps);
    expect(r.outcome).toEqual({
      kind: "ok",
      status: 200,
      ackedThroughSeq: es[2]!.seq,
      inserted: 3,
      duplicates: 0,
    });
  });

  test("a replayed batch changes nothing", async () => {
    const es = [entry(), entry()];
    const body = JSON.stringify(buildBody(es, target, crypto.randomUUID()));
    const headers = signedHeaders({ secret: SECRET, userId: USER, rawBody: body, nowMs: Date.now() });
    const first = await rawPush(body, headers);
    const sizeAfterFirst = rx.store.size;
    const snapshot = JSON.stringify([...rx.store.entries()]);
    const second = await rawPush(body, headers);
    expect(first).toEqual({ status: 200, json: { ackedThroughSeq: es[1]!.seq, inserted: 2, duplicates: 0 } });
    expect(second).toEqual({
      status: 200,
      json: { ackedThroughSeq: es[1]!.seq, inserted: 0, duplicates: 2 },
    });
    expect(rx.store.size).toBe(sizeAfterFirst);
    expect(JSON.stringify([...rx.store.entries()])).toBe(snapshot);
  });

  test("forged signatures, tampered bodies, stale or future timestamps and wrong users get 401", async () => {
    const body = JSON.stringify(buildBody([entry()], target, crypto.randomUUID()));
    const now = Date.now();
    const good = signedHeaders({ secret: SECRET, userId: USER, rawBody: body, nowMs: now });
    const sig = good["x-pipbot-signature"]!;
    const flipped = sig.slice(0, -1) + (sig.endsWith("0") ? "1" : "0");
    const ts = (s: number) => {
      const t = Math.floor(now / 1000) + s;
      return {
        ...good,
        "x-pipbot-timestamp": String(t),
        "x-pipbot-signature": `v1=${signatureHex(SECRET, t, body)}`,
      };
    };
    const before = rx.store.size;
    const cases: [string, string, Record<string, string>][] = [
      ["flipped signature", body, { ...good, "x-pipbot-signature": flipped }],
      [
        "wrong secret",
        body,
        {
          ...good,
          "x-pipbot-signature": `v1=${signatureHex("another-secret-xxxxxxxx", Math.floor(now / 1000), body)}`,
        },
      ],
      ["tampered body", body.replace("hello", "HELLO"), good],
      ["no v1= prefix", body, { ...good, "x-pipbot-signature": sig.slice(3) }],
      ["uppercase hex", body, { ...good, "x-pipbot-signature": `v1=${sig.slice(3).toUpperCase()}` }],
      ["v2= scheme", body, { ...good, "x-pipbot-signature": `v2=${sig.slice(3)}` }],
      ["non-numeric timestamp", body, { ...good, "x-pipbot-timestamp": `${good["x-pipbot-timestamp"]}.0` }],
      // 302, not 301: the receiver reads its own clock, which may have passed the next second since
      // `now` (then +301 would sit exactly on the 300 s edge). The exact edges are tested with a fixed clock.
      ["stale timestamp (-302 s)", body, ts(-302)],
      ["future timestamp (+302 s)", body, ts(302)],
      ["other user", body, { ...good, "x-pipbot-user-id": "user_other" }],
      [
        "no signature",
        body,
        {
          "content-type": "application/json",
          "x-pipbot-user-id": USER,
          "x-pipbot-timestamp": good["x-pipbot-timestamp"]!,
        },
      ],
    ];
    for (const [name, b, h] of cases) {
      const r = await rawPush(b, h);
      expect({ name, status: r.status }).toEqual({ name, status: 401 });
    }
    expect(rx.store.size).toBe(before);
    // Inside the window is accepted (the exact ±300 s edges: the fixed-clock test below).
    expect((await rawPush(body, ts(-298))).status).toBe(200);
  });

  test("the timestamp window is ±300 s inclusive, judged by the receiver's own clock", async () => {
    const clock = Date.parse("2026-06-01T12:00:00.500Z"); // a fixed receiver clock: no second boundary races
    const fixed = await startSyncReceiver({ secret: SECRET, userId: USER, now: () => clock });
    try {
      const at = (offsetS: number) => {
        const body = JSON.stringify(buildBody([entry()], target, crypto.randomUUID()));
        const headers = signedHeaders({
          secret: SECRET,
          userId: USER,
          rawBody: body,
          nowMs: clock + offsetS * 1000,
        });
        return rawPush(body, headers, fixed.url).then((r) => r.status);
      };
      expect(await at(-300)).toBe(200);
      expect(await at(300)).toBe(200);
      expect(await at(-301)).toBe(401);
      expect(await at(301)).toBe(401);
      expect(await at(0)).toBe(200);
    } finally {
      await fixed.stop();
    }
  });

  test("the signature covers the raw UTF-8 bytes (non-ASCII text, emoji)", async () => {
    const es = [entry({ content: [{ type: "text", text: "héllo wörld 👋 — ✓ \u2028 «»" }] })];
    const r = await pushBatch(es, target, deps);
    expect(r.outcome).toMatchObject({ kind: "ok", ackedThroughSeq: es[0]!.seq });
    expect([...rx.store.values()].find((e) => e.id === es[0]!.id)?.content).toEqual(es[0]!.content);
  });

  test("a worker with a skewed clock or a wrong secret is rejected (auth)", async () => {
    const skewed = await pushBatch([entry()], target, { fetch, now: () => Date.now() - 10 * 60_000 });
    expect(skewed.outcome).toMatchObject({ kind: "auth", status: 401 });
    // The receiver's Date header tells how far off we are: the hint names the clock.
    const skew = (skewed.outcome as { clockSkewMs?: number }).clockSkewMs!;
    expect(skew).toBeLessThan(-9 * 60_000);
    expect(skew).toBeGreaterThan(-11 * 60_000);
    expect(authHint(skew)).toContain("behind");
    const wrong = await pushBatch([entry()], { ...target, secret: "wrong-secret-0123456789" }, deps);
    expect(wrong.outcome).toMatchObject({ kind: "auth", status: 401 });
  });

  test("the receiver enforces 1 MB (1,000,000 bytes) per body: one byte more is a 413", async () => {
    const sized = (bytes: number) => {
      const e = entry({ content: [{ type: "text", text: "" }] });
      const batchId = crypto.randomUUID();
      const empty = encodeBatch([e], target, batchId).bytes;
      e.content = [{ type: "text", text: "x".repeat(bytes - empty) }];
      const b = encodeBatch([e], target, batchId);
      expect(b.bytes).toBe(bytes);
      return b.rawBody;
    };
    const push = (body: string) =>
      rawPush(body, signedHeaders({ secret: SECRET, userId: USER, rawBody: body, nowMs: Date.now() }));
    expect((await push(sized(MAX_BODY_BYTES))).status).toBe(200);
    expect((await push(sized(MAX_BODY_BYTES + 1))).status).toBe(413);
  });

  test("the receiver enforces the contract limits (strict keys, ≤ 200 entries)", async () => {
    const tooMany = Array.from({ length: 201 }, () => entry());
    expect((await pushBatch(tooMany, target, deps)).outcome).toMatchObject({ kind: "reject", status: 413 });
    const body = JSON.stringify({ ...buildBody([entry()], target, crypto.randomUUID()), extra: 1 });
    const r = await rawPush(
      body,
      signedHeaders({ secret: SECRET, userId: USER, rawBody: body, nowMs: Date.now() }),
    );
    expect(r.status).toBe(400);
    // userId in the body must be the signed header's user.
    const other = JSON.stringify({ ...buildBody([entry()], target, crypto.randomUUID()), userId: "user_x" });
    const r2 = await rawPush(
      other,
      signedHeaders({ secret: SECRET, userId: USER, rawBody: other, nowMs: Date.now() }),
    );
    expect(r2.status).toBe(400);
    // Descending seqs within a batch.
    const [a, b] = [entry(), entry()];
    const desc = JSON.stringify(buildBody([b, a], target, crypto.randomUUID()));
    const r3 = await rawPush(
      desc,
      signedHeaders({ secret: SECRET, userId: USER, rawBody: desc, nowMs: Date.now() }),
    );
    expect(r3.status).toBe(400);
  });
});

describe("network outcomes", () => {
  test("connection refused is a retryable network error", async () => {
    const r = await pushBatch([entry()], { ...target, siteUrl: "http://127.0.0.1:9" }, deps);
    expect(r.outcome.kind).toBe("retry");
    expect((r.outcome as { message: string }).message).toContain("network error");
  });

  test("an aborted push (shutdown) is reported as aborted, not as a failure", async () => {
    rx.faults.delayMs = 2_000;
    try {
      const ctl = new AbortController();
      const p = pushBatch([entry()], target, { fetch, now: Date.now, signal: ctl.signal });
      setTimeout(() => ctl.abort(), 50);
      expect((await p).outcome.kind).toBe("aborted");
    } finally {
      rx.faults.delayMs = 0;
    }
  });
});

describe("classifyResponse", () => {
  const h = (o: Record<string, string> = {}) => new Headers(o);
  const now = Date.parse("2026-01-01T00:00:00Z");
  test.each([
    [200, '{"ackedThroughSeq":5,"inserted":1,"duplicates":0}', "ok"],
    [202, '{"ackedThroughSeq":5}', "ok"],
    [200, "<html>proxy</html>", "retry"],
    [200, '{"ackedThroughSeq":"5"}', "retry"],
    [400, "bad", "reject"],
    [413, "", "reject"],
    [401, "", "auth"],
    [403, "", "auth"],
    [408, "", "retry"],
    [429, "", "retry"],
    [500, "", "retry"],
    [502, "", "retry"],
    [503, "", "retry"],
    [404, "", "retry"],
    [302, "", "retry"],
  ])("%i %s → %s", (status, body, kind) => {
    expect(classifyResponse(status, h(), body, now).kind).toBe(kind as "ok");
  });

  test("401/403 carry the clock skew from the receiver's Date header, when it sent one", () => {
    const at = (d: string) => classifyResponse(401, h({ date: d }), "", now);
    expect(at("Thu, 01 Jan 2026 00:10:00 GMT")).toMatchObject({ kind: "auth", clockSkewMs: -600_000 });
    expect(classifyResponse(403, h(), "", now)).not.toHaveProperty("clockSkewMs");
    expect(authHint(-600_000)).toContain("600 s behind");
    expect(authHint(400_000)).toContain("ahead");
    expect(authHint(2_000)).toContain("SYNC_SECRET"); // small skew: not the clock
    expect(authHint(undefined)).toContain("SYNC_SECRET");
  });

  test("Retry-After in seconds or as an HTTP date", () => {
    expect(classifyResponse(429, h({ "retry-after": "12" }), "", now)).toMatchObject({
      retryAfterMs: 12_000,
    });
    expect(
      classifyResponse(503, h({ "retry-after": "Thu, 01 Jan 2026 00:00:30 GMT" }), "", now),
    ).toMatchObject({
      retryAfterMs: 30_000,
    });
    expect(classifyResponse(503, h({ "retry-after": "soon" }), "", now)).not.toHaveProperty("retryAfterMs");
  });
});
