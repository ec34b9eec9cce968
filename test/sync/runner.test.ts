/**
 * The sync loop against a real SQLite store and the real fake sync-v1 receiver over loopback:
 * delivery and order, prompt wake-up, each fault class, status, and graceful stop.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { MAX_BATCH_BYTES } from "../../src/sync/batching.ts";
import { startSyncReceiver } from "../fakes/sync-receiver.ts";
import { waitFor } from "../helpers/index.ts";
import { type Harness, isAscending, localIds, makeHarness, SECRET, USER } from "./harness.ts";

let h: Harness;
beforeEach(async () => {
  h = await makeHarness();
});
afterEach(async () => {
  await h.cleanup();
});

const allDelivered = () => h.workerStore.outboxStats().pending === 0;
const receivedAll = (n: number) => () => h.receiver.store.size === n && allDelivered();

describe("delivery", () => {
  test("drains a backlog in seq order, exact sync-v1 bodies, each entry once", async () => {
    const ids = h.write(450);
    const runner = h.startRunner();
    await waitFor(receivedAll(450), { what: "450 entries delivered" });
    expect(h.receiver.ids()).toEqual(new Set(ids));
    expect(isAscending(h.receiver.firstSeenSeqs)).toBe(true);
    for (const b of h.receiver.accepted) {
      expect(isAscending(b.seqs)).toBe(true);
      expect(b.seqs.length).toBeLessThanOrEqual(200);
    }
    expect(h.receiver.accepted.length).toBe(3); // 200 + 200 + 50: back-to-back full batches
    expect(h.receiver.maxInFlight).toBe(1); // one batch in flight
    // The receiver validates exact keys (strict schema); spot-check one stored assistant entry.
    const e = [...h.receiver.store.values()].find((x) => x.role === "assistant")!;
    expect(Object.keys(e).sort()).toEqual(
      [
        "content",
        "createdAt",
        "id",
        "model",
        "role",
        "seq",
        "sessionId",
        "sessionKey",
        "stopReason",
        "usage",
        "userId",
      ].sort(),
    );
    expect(e.sessionKey).toBe("agent:main:main");
    const s = runner.status();
    expect(s).toMatchObject({
      pending: 0,
      delivered: 450,
      quarantined: 0,
      lastError: null,
      oldestPendingAgeMs: null,
    });
    expect(typeof s.lastSuccessAt).toBe("number");
    await waitFor(() => runner.status().state === "idle", { what: "idle" });
  });

  test("wakes when another connection writes, and logs one wide line per batch", async () => {
    const runner = h.startRunner({ recheckMs: 60_000 }); // only data_version can wake it
    await waitFor(() => runner.status().state === "idle", { what: "idle" });
    const [id] = h.write(1);
    await waitFor(() => h.receiver.ids().has(id!) && allDelivered(), { what: "new message delivered" });
    const line = h.logs.records().find((r) => r.event === "sync_batch")!;
    expect(line).toMatchObject({
      outcome: "delivered",
      entries: 1,
      status: 200,
      nextDelayMs: 0,
      proc: "sync",
    });
    for (const k of ["batchId", "firstSeq", "lastSeq", "bytes", "durationMs"]) expect(line[k]).toBeDefined();
    const all = h.logs.lines.join("");
    expect(all).not.toContain(SECRET);
    expect(all).not.toMatch(/v1=[0-9a-f]{64}/);
  });

  test("batches stay within 1 MB of body on the sender's side (no 413 needed)", async () => {
    const ids = h.write(40, (i) => `${i} ${"y".repeat(60_000)}`); // 2.4 MB in all
    h.startRunner();
    await waitFor(receivedAll(40), { what: "40 × 60 kB delivered" });
    expect(h.receiver.ids()).toEqual(new Set(ids));
    const sent = h.receiver.requests;
    expect(sent.every((r) => r.status === 200)).toBe(true);
    expect(sent.length).toBeGreaterThanOrEqual(3);
    for (const r of sent) expect(r.bytes).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    expect(sent.filter((r) => r.bytes > MAX_BATCH_BYTES * 0.9).length).toBeGreaterThan(0); // batches are filled
    expect(isAscending(h.receiver.firstSeenSeqs)).toBe(true);
  });

  test("an entry larger than 1 MB on its own is never sent: quarantined at once, kept, the rest delivered", async () => {
    const [a] = h.write(1);
    const [big] = h.write(1, () => "z".repeat(MAX_BATCH_BYTES + 10));
    const [c] = h.write(1);
    const runner = h.startRunner();
    await waitFor(() => h.receiver.store.size === 2 && allDelivered(), {
      what: "2 delivered, 1 quarantined",
    });
    expect(h.receiver.ids()).toEqual(new Set([a!, c!]));
    for (const r of h.receiver.requests) expect(r.bytes).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    expect(h.workerStore.quarantinedEntries().map((q) => q.messageId)).toEqual([big!]);
    expect(runner.status()).toMatchObject({ quarantined: 1, delivered: 2, pending: 0 });
    expect(runner.status().lastError?.message).toContain("too large");
    expect(h.writer.getMessage(big!)).not.toBeNull();
  });

  test("a receiver acking less than sent leaves the rest pending, then delivers it", async () => {
    h.receiver.faults.ackLimit = 3;
    h.write(10);
    h.startRunner();
    await waitFor(receivedAll(10), { what: "10 delivered in parts" });
    expect(h.receiver.accepted.length).toBe(4); // 3 + 3 + 3 + 1
    expect(isAscending(h.receiver.firstSeenSeqs)).toBe(true);
  });
});

describe("faults", () => {
  test("5xx and 408 are retried with backoff; Retry-After (seconds and HTTP date) is honoured", async () => {
    h.receiver.faults.failNext.push(
      { status: 500 },
      { status: 503, retryAfter: "7" },
      { status: 408 },
      { status: 429, retryAfter: new Date(Date.now() + 30_000).toUTCString() },
    );
    h.write(5);
    const runner = h.startRunner();
    await waitFor(receivedAll(5), { what: "delivered after 4 failures" });
    // The runner asked to wait at least what Retry-After said (the test sleep shortens it).
    expect(h.delays.some((d) => d >= 7_000 && d < 8_000)).toBe(true);
    expect(h.delays.some((d) => d >= 25_000 && d <= 30_000)).toBe(true);
    expect(h.receiver.requests.filter((r) => r.status !== 200).length).toBe(4);
    const retries = h.logs.records().filter((r) => r.event === "sync_batch" && r.outcome === "retry");
    expect(retries.map((r) => r.status)).toEqual([500, 503, 408, 429]);
    expect(runner.status().lastError).toMatchObject({ status: 429 });
  });

  test("backoff grows exponentially up to the cap (full jitter, random injected)", async () => {
    for (let i = 0; i < 6; i++) h.receiver.faults.failNext.push({ status: 500 });
    h.write(1);
    h.startRunner({ random: () => 0.999, backoff: { baseMs: 10, capMs: 100 } });
    await waitFor(receivedAll(1), { what: "delivered after 6 failures" });
    const backoffs = h.logs
      .records()
      .filter((r) => r.outcome === "retry")
      .map((r) => r.nextDelayMs);
    expect(backoffs).toEqual([9, 19, 39, 79, 99, 99]);
  });

  test("network errors: connection reset and a receiver that is down, then the backlog drains", async () => {
    h.receiver.faults.resetNext = 2;
    h.write(3);
    const runner = h.startRunner();
    await waitFor(receivedAll(3), { what: "delivered after resets" });
    const successAt = runner.status().lastSuccessAt;
    expect(typeof successAt).toBe("number");
    await h.receiver.down();
    h.write(250);
    await waitFor(() => runner.status().state === "backing_off", { what: "backing_off while down" });
    expect(runner.status().lastError?.message).toContain("network error");
    // Status during the outage: the backlog, how old its oldest entry is, the last success kept.
    await waitFor(() => (runner.status().oldestPendingAgeMs ?? 0) > 0, { what: "the backlog ages" });
    expect(runner.status()).toMatchObject({ pending: 250, lastSuccessAt: successAt, delivered: 3 });
    await h.receiver.up();
    await waitFor(receivedAll(253), { what: "backlog drained after the receiver came back" });
    expect(isAscending(h.receiver.firstSeenSeqs)).toBe(true);
    expect(runner.status().oldestPendingAgeMs).toBeNull();
    expect(runner.status().lastSuccessAt).toBeGreaterThanOrEqual(successAt!);
  });

  test("a slow answer past the request timeout is retried; the replay changes nothing", async () => {
    h.receiver.faults.delayMs = 400;
    h.write(4);
    h.startRunner({
      target: {
        siteUrl: h.receiver.url,
        userId: USER,
        machineId: null,
        secret: SECRET,
        timeoutMs: 100,
      },
    });
    await waitFor(
      () => h.logs.records().some((r) => r.outcome === "retry" && String(r.error).includes("timed out")),
      {
        what: "a timed-out push",
      },
    );
    expect(h.workerStore.outboxStats().pending).toBe(4); // upserted remotely, but not acked: still pending
    h.receiver.faults.delayMs = 0;
    await waitFor(receivedAll(4), { what: "delivered once the receiver is fast" });
    expect(h.receiver.accepted.some((b) => b.duplicates > 0)).toBe(true);
    expect(h.receiver.conflicts).toBe(0);
    expect(h.receiver.store.size).toBe(4);
  });

  test("401 → auth_error (logged loudly once, not per retry), then recovery", async () => {
    h.receiver.faults.authFail = true;
    h.write(3);
    const runner = h.startRunner();
    await waitFor(() => h.receiver.requests.length >= 4, { what: "several 401s" });
    const st = runner.status();
    expect(st.state).toBe("auth_error");
    expect(st.lastError).toMatchObject({ status: 401 });
    expect(st.pending).toBe(3);
    const errors = h.logs.records().filter((r) => r.level === "error");
    expect(errors.length).toBe(1);
    expect(String(errors[0]!.msg)).toContain("SYNC_SECRET");
    h.receiver.faults.authFail = false;
    await waitFor(receivedAll(3), { what: "delivered after credentials were accepted" });
    await waitFor(() => runner.status().state === "idle", { what: "idle after recovery" });
    expect(h.logs.records().some((r) => r.event === "sync_auth_recovered")).toBe(true);
  });

  test("403 is an auth_error too, with the hint in status", async () => {
    h.receiver.faults.failNext.push({ status: 403 }, { status: 403 });
    h.write(2);
    const runner = h.startRunner();
    await waitFor(() => runner.status().state === "auth_error", { what: "auth_error on 403" });
    expect(runner.status().lastError).toMatchObject({ status: 403 });
    expect(runner.status().lastError?.hint).toContain("SYNC_SECRET");
    await waitFor(receivedAll(2), { what: "delivered after the 403s" });
    expect(h.logs.records().filter((r) => r.event === "sync_auth_error").length).toBe(1);
    expect(h.delays.filter((d) => d === 20).length).toBeGreaterThanOrEqual(2); // the slow auth retry (authRetryMs)
  });

  test("a clock more than 300 s off shows as auth_error whose hint names the clock", async () => {
    const ahead = await startSyncReceiver({
      secret: SECRET,
      userId: USER,
      now: () => Date.now() + 20 * 60_000,
    });
    try {
      h.write(1);
      const runner = h.startRunner({
        target: { siteUrl: ahead.url, userId: USER, machineId: null, secret: SECRET, timeoutMs: 5_000 },
      });
      await waitFor(() => runner.status().state === "auth_error", { what: "auth_error from clock skew" });
      const err = runner.status().lastError!;
      expect(err.status).toBe(401);
      expect(err.message).toContain("timestamp");
      expect(err.hint).toMatch(/clock is \d+ s behind Convex/);
      const loud = h.logs.records().find((r) => r.event === "sync_auth_error")!;
      expect(loud.level).toBe("error");
      expect(String(loud.msg)).toContain("behind Convex");
      await runner.stop(100);
      expect(ahead.store.size).toBe(0);
    } finally {
      await ahead.stop();
    }
  });

  test("413 splits the batch in halves until the receiver accepts; order kept", async () => {
    h.receiver.faults.maxEntries = 7;
    const ids = h.write(40);
    h.startRunner();
    await waitFor(receivedAll(40), { what: "40 delivered through splits" });
    expect(h.receiver.ids()).toEqual(new Set(ids));
    for (const b of h.receiver.accepted) expect(b.seqs.length).toBeLessThanOrEqual(7);
    expect(h.receiver.maxInFlight).toBe(1); // halves are sent one after the other
    expect(isAscending(h.receiver.firstSeenSeqs)).toBe(true);
    expect(h.logs.records().some((r) => r.outcome === "split" && r.status === 413)).toBe(true);
    expect(h.workerStore.quarantinedEntries()).toEqual([]);
  });

  test("413 on body size splits too", async () => {
    h.receiver.faults.maxBodyBytes = 20_000;
    h.write(30, (i) => `${i} ${"x".repeat(2_000)}`);
    h.startRunner();
    await waitFor(receivedAll(30), { what: "30 large entries delivered" });
    for (const r of h.receiver.requests.filter((x) => x.status === 200))
      expect(r.bytes).toBeLessThanOrEqual(20_000);
  });

  test("a poisoned entry is quarantined after N lone rejections; the others are delivered", async () => {
    const ids = h.write(25);
    const bad = ids[11]!;
    h.receiver.faults.poisonIds.add(bad);
    const runner = h.startRunner();
    await waitFor(() => h.receiver.store.size === 24 && allDelivered(), {
      what: "24 delivered, 1 quarantined",
    });
    expect(h.receiver.ids().has(bad)).toBe(false);
    const q = h.workerStore.quarantinedEntries();
    expect(q.map((x) => x.messageId)).toEqual([bad]);
    expect(q[0]!.lastError).toContain("400");
    const st = runner.status();
    expect(st.quarantined).toBe(1);
    expect(st.delivered).toBe(24);
    expect(st.lastError?.message).toContain(bad);
    expect(runner.quarantined()[0]!.messageId).toBe(bad);
    expect(h.writer.getMessage(bad)).not.toBeNull(); // kept locally
    // Rejected alone exactly quarantineAfter (3) times.
    expect(h.receiver.requests.filter((r) => r.entries === 1 && r.status === 400).length).toBe(3);
    expect(isAscending(h.receiver.firstSeenSeqs)).toBe(true);
    expect(localIds(h.writer).size).toBe(25);
  });

  test("lone rejections are counted in the store: a restart does not reset the way to quarantine", async () => {
    const ids = h.write(5);
    const bad = ids[2]!;
    h.receiver.faults.poisonIds.add(bad);
    const lone400s = () => h.receiver.requests.filter((r) => r.entries === 1 && r.status === 400).length;
    // First worker: after the first lone rejection it would wait 10 minutes; stop it there.
    const first = h.startRunner({
      sleep: undefined,
      backoff: { baseMs: 600_000, capMs: 600_000 },
      random: () => 0.99,
    });
    await waitFor(() => lone400s() === 1 && first.status().state === "backing_off", {
      what: "first lone 400",
    });
    await first.stop(100);
    expect(h.workerStore.quarantinedEntries()).toEqual([]);
    // Second worker (quarantineAfter 3): two more lone rejections, not three.
    h.startRunner();
    await waitFor(() => h.workerStore.quarantinedEntries().length === 1 && allDelivered(), {
      what: "quarantined",
    });
    expect(lone400s()).toBe(3);
    expect(h.receiver.store.size).toBe(4);
  });
});

describe("stop", () => {
  test("graceful stop abandons an in-flight push after the grace period and marks nothing", async () => {
    h.receiver.faults.delayMs = 5_000;
    h.write(6);
    const runner = h.startRunner();
    await waitFor(() => h.receiver.accepted.length === 1, { what: "batch reached the receiver" });
    await runner.stop(50);
    expect(h.workerStore.outboxStats()).toMatchObject({ pending: 6, delivered: 0 });
    expect(h.logs.records().some((r) => r.outcome === "aborted")).toBe(true);
    // A new runner re-sends; the receiver's upsert absorbs the replay.
    h.receiver.faults.delayMs = 0;
    h.startRunner();
    await waitFor(receivedAll(6), { what: "re-delivered after restart" });
    expect(h.receiver.accepted.at(-1)!.duplicates).toBe(6);
    expect(h.receiver.conflicts).toBe(0);
  });

  test("graceful stop lets an in-flight push that answers within the grace period finish and ack", async () => {
    const release = Promise.withResolvers<void>();
    h.receiver.faults.hold = release.promise;
    h.write(6);
    const runner = h.startRunner();
    await waitFor(() => h.receiver.accepted.length === 1, { what: "batch reached the receiver" });
    const stopped = runner.stop(60_000);
    release.resolve(); // the receiver answers during the grace period
    await stopped;
    expect(h.workerStore.outboxStats()).toMatchObject({ pending: 0, delivered: 6 });
    expect(h.receiver.requests.length).toBe(1); // and no new push started after stop
  });

  test("stop while idle or backing off returns promptly", async () => {
    h.receiver.faults.authFail = true;
    h.write(1);
    const runner = h.startRunner({ authRetryMs: 600_000, sleep: undefined });
    await waitFor(() => runner.status().state === "auth_error", { what: "auth_error" });
    await runner.stop(5_000); // would hang for 10 minutes if the backoff sleep ignored stop
    expect(runner.status().pending).toBe(1);
  });
});
