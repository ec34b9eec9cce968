import { afterEach, describe, expect, test } from "bun:test";
import { spawnCaptured, tempDir, waitFor } from "../../../test/helpers/index.ts";
import { canonicalSessionKey, openStore, type Store } from "./index.ts";
import { MIGRATIONS } from "./migrations.ts";

const dirs: { cleanup(): void }[] = [];
const stores: Store[] = [];
function fresh(): Store {
  const d = tempDir();
  dirs.push(d);
  const s = openStore(d.path);
  stores.push(s);
  return s;
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) d.cleanup();
});

describe("store", () => {
  test("migrations run once, WAL on, reopening keeps data", () => {
    const d = tempDir();
    dirs.push(d);
    const a = openStore(d.path);
    expect(a.schemaVersion).toBe(MIGRATIONS.at(-1)!.version);
    expect((a.db.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe("wal");
    a.appendMessage({
      sessionId: a.getOrCreateSession("main").id,
      role: "user",
      content: [{ type: "text", text: "hi" }],
    });
    a.close();
    const b = openStore(d.path);
    stores.push(b);
    expect(b.listMessages(b.findSession("agent:main:main")!.id)).toHaveLength(1);
  });

  test("main, agent:main:main are one session", () => {
    const s = fresh();
    expect(canonicalSessionKey("main")).toBe("agent:main:main");
    expect(s.getOrCreateSession("main").id).toBe(s.getOrCreateSession("agent:main:main").id);
    expect(s.getOrCreateSession("other").id).not.toBe(s.getOrCreateSession("main").id);
  });

  test("every message has exactly one outbox entry, written in the same transaction", () => {
    const s = fresh();
    const sess = s.getOrCreateSession("main");
    s.startRun({ runId: "r1", sessionId: sess.id, userText: "q" });
    s.finishRun("r1", { state: "final", text: "a", model: "m", stopReason: "end_turn" });
    const msgs = s.listMessages(sess.id);
    const out = s.pendingOutbox();
    expect(out.map((e) => e.id)).toEqual(msgs.map((m) => m.id));
    expect(out.map((e) => e.seq)).toEqual([1, 2]);
    expect(out[1]).toMatchObject({
      role: "assistant",
      model: "m",
      stopReason: "end_turn",
      sessionKey: "agent:main:main",
    });
  });

  test("a failing message insert leaves no outbox row behind (atomicity)", () => {
    const s = fresh();
    expect(() =>
      s.appendMessage({ sessionId: "no-such-session", role: "user", content: [{ type: "text", text: "x" }] }),
    ).toThrow();
    expect(s.outboxStats().lastSeq).toBe(0);
  });

  test("finishRun ends a run once; closeInterruptedRuns closes dangling runs with their partial text", () => {
    const s = fresh();
    const sess = s.getOrCreateSession("main");
    s.startRun({ runId: "done", sessionId: sess.id, userText: "q1" });
    expect(s.finishRun("done", { state: "final", text: "a1" })).not.toBeNull();
    expect(s.finishRun("done", { state: "error", errorMessage: "late" })).toBeNull();
    s.startRun({ runId: "cut", sessionId: sess.id, userText: "q2" });
    s.saveRunPartial("cut", "half an ans");
    const closed = s.closeInterruptedRuns();
    expect(closed.map((r) => r.runId)).toEqual(["cut"]);
    expect(s.getRun("cut")!.state).toBe("interrupted");
    const last = s.listMessages(sess.id).at(-1)!;
    expect(last).toMatchObject({
      role: "assistant",
      status: "interrupted",
      stopReason: "interrupted",
      error: { code: "gateway_restart" },
      content: [{ type: "text", text: "half an ans" }],
    });
    expect(s.closeInterruptedRuns()).toEqual([]);
  });

  test("every run end is an assistant message: errors without text, partial errors and aborts say how they ended", () => {
    const s = fresh();
    const sess = s.getOrCreateSession("main");
    s.startRun({ runId: "e0", sessionId: sess.id, userText: "q" });
    s.finishRun("e0", { state: "error", text: "", errorMessage: "AI server down", errorKind: "timeout" });
    s.startRun({ runId: "e1", sessionId: sess.id, userText: "q" });
    s.finishRun("e1", { state: "error", text: "half", errorMessage: "cut", errorKind: "unknown" });
    s.startRun({ runId: "a1", sessionId: sess.id, userText: "q" });
    s.finishRun("a1", { state: "aborted", text: "", stopReason: "stop", errorMessage: "Stopped." });
    s.startRun({ runId: "f1", sessionId: sess.id, userText: "q" });
    s.finishRun("f1", { state: "final", text: "", stopReason: "end_turn" });
    const replies = s.listMessages(sess.id).filter((m) => m.role === "assistant");
    expect(replies.map((m) => [m.runId, m.status, m.stopReason, m.error, m.content])).toEqual([
      ["e0", "error", "error", { code: "timeout", message: "AI server down" }, []],
      ["e1", "error", "error", { code: "unknown", message: "cut" }, [{ type: "text", text: "half" }]],
      ["a1", "aborted", "aborted", { code: "stop", message: "Stopped." }, []],
      ["f1", "final", "end_turn", null, []],
    ]);
    for (const r of ["e0", "e1", "a1", "f1"]) expect(s.getRun(r)?.assistantMessageId).not.toBeNull();
    // The outbox (sync-v1) carries the stop reason and the error.
    const entries = s.pendingOutbox(100).filter((e) => (e as { role?: string }).role === "assistant");
    expect(entries[0]).toMatchObject({
      stopReason: "error",
      error: { code: "timeout", message: "AI server down" },
    });
    expect((entries[3] as { error?: unknown } | undefined)?.error).toBeUndefined();
  });

  test("outbox batches respect the byte limit but always return the first entry", () => {
    const s = fresh();
    const sess = s.getOrCreateSession("main");
    for (let i = 0; i < 5; i++)
      s.appendMessage({
        sessionId: sess.id,
        role: "user",
        content: [{ type: "text", text: "x".repeat(1000) }],
      });
    const one = s.pendingOutbox(1)[0]!.bytes;
    expect(one).toBeGreaterThan(1000);
    expect(s.pendingOutbox(200, one * 2)).toHaveLength(2);
    expect(s.pendingOutbox(200, one * 2 - 1)).toHaveLength(1);
    expect(s.pendingOutbox(200, 10)).toHaveLength(1);
    expect(s.pendingOutbox(3)).toHaveLength(3);
  });

  test("delivered and quarantined entries leave the pending set; stats count them", () => {
    const s = fresh();
    const sess = s.getOrCreateSession("main");
    for (let i = 0; i < 4; i++)
      s.appendMessage({ sessionId: sess.id, role: "user", content: [{ type: "text", text: `${i}` }] });
    s.markDelivered([1, 2]);
    s.markDelivered([1]);
    expect(s.recordOutboxFailure(3, "413")).toBe(1);
    expect(s.recordOutboxFailure(3, "413")).toBe(2);
    s.quarantine(3, "rejected alone 2 times");
    expect(s.pendingOutbox().map((e) => e.seq)).toEqual([4]);
    expect(s.outboxStats()).toMatchObject({ pending: 1, quarantined: 1, delivered: 2, lastSeq: 4 });
    expect(s.quarantinedEntries()[0]).toMatchObject({ seq: 3, lastError: "rejected alone 2 times" });
  });

  test("usage totals per provider/model", () => {
    const s = fresh();
    const u = {
      inputTokens: 10,
      outputTokens: 5,
      cacheReadTokens: 1,
      cacheWriteTokens: 0,
      reasoningTokens: 2,
    };
    s.recordUsage({ requestId: "a", provider: "openai", model: "m", status: "ok", usage: u });
    s.recordUsage({
      requestId: "b",
      provider: "openai",
      model: "m",
      status: "error",
      usage: { ...u, estimated: true },
    });
    s.recordUsage({ requestId: "c", provider: "google", model: "g", status: "ok", usage: u, ts: 1 });
    const totals = s.usageTotals(1000);
    expect(totals).toEqual([
      {
        provider: "openai",
        model: "m",
        requests: 2,
        inputTokens: 20,
        outputTokens: 10,
        cacheReadTokens: 2,
        cacheWriteTokens: 0,
        reasoningTokens: 4,
        estimatedRequests: 1,
        failedRequests: 1,
      },
    ]);
  });

  test("usage rows carry their user; totals of one user with usageTotals(since, user)", () => {
    const s = fresh();
    const u = {
      inputTokens: 3,
      outputTokens: 4,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    };
    const row = (requestId: string, provider: string, userId?: string) =>
      s.recordUsage({
        requestId,
        provider,
        model: provider[0]!,
        status: "ok",
        usage: u,
        ...(userId ? { userId } : {}),
      });
    row("a", "openai", "user_a");
    row("b", "openai", "user_b");
    row("c", "openai", "user_b");
    row("d", "google");
    expect(s.flushUsage()).toBe(true); // the rows are queued until a flush (usage-writer.ts)
    const rows = s.db.query("SELECT request_id, user_id FROM usage ORDER BY id").all();
    expect(rows).toEqual([
      { request_id: "a", user_id: "user_a" },
      { request_id: "b", user_id: "user_b" },
      { request_id: "c", user_id: "user_b" },
      { request_id: "d", user_id: null },
    ]);
    expect(s.usageTotals(0).map((t) => [t.provider, t.requests])).toEqual([
      ["google", 1],
      ["openai", 3],
    ]);
    expect(s.usageTotals(0, "user_b")).toEqual([
      expect.objectContaining({
        provider: "openai",
        model: "o",
        requests: 2,
        inputTokens: 6,
        outputTokens: 8,
      }),
    ]);
    expect(s.usageTotals(0, "user_nobody")).toEqual([]);
  });

  test("two processes at once: a writer process and this reader/acker lose nothing and never fail busy", async () => {
    const d = tempDir();
    dirs.push(d);
    const reader = openStore(d.path);
    stores.push(reader);
    const runs = 300;
    const writers = [1, 2].map(() =>
      spawnCaptured(
        ["bun", `${import.meta.dir}/../../../test/fixtures/store/writer.ts`, d.path, String(runs)],
        {
          PATH: process.env.PATH ?? "",
        },
      ),
    );
    const acked = new Set<string>();
    let version = reader.dataVersion();
    let writersDone = false;
    const allDone = Promise.all(writers.map((w) => w.exited)).then((codes) => {
      writersDone = true;
      return codes;
    });
    // Ack as the sync worker does, concurrently with the writers, until everything is acked.
    await waitFor(
      () => {
        const v = reader.dataVersion();
        if (v !== version || writersDone) {
          version = v;
          const batch = reader.pendingOutbox(200);
          for (const e of batch) acked.add(e.id);
          reader.markDelivered(batch.map((e) => e.seq));
        }
        return writersDone && reader.outboxStats().pending === 0;
      },
      { timeoutMs: 60_000, intervalMs: 2, what: "all messages acked" },
    );
    const codes = await allDone;
    for (const w of writers) expect(w.output()).toContain(`done ${runs}`);
    expect(codes).toEqual([0, 0]);
    const total = runs * 2 * 2; // user + assistant per run, two writers
    expect(reader.outboxStats()).toMatchObject({ delivered: total, pending: 0, lastSeq: total });
    expect(acked.size).toBe(total);
    const count = reader.db.query("SELECT COUNT(*) AS n FROM messages").get() as { n: number };
    expect(count.n).toBe(total);
  });
});
