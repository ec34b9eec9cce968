import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type Store, wireEntry } from "./index.ts";
import { syncStopReason } from "./outbox.ts";

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function store(): Store {
  const d = mkdtempSync(join(tmpdir(), "pipbot-outbox-"));
  dirs.push(d);
  const s = openStore(d);
  stores.push(s);
  return s;
}

test("the sync-v1 stopReason: a turn's end state, else the model's reason inside the contract's set", () => {
  expect(syncStopReason("aborted", "rpc")).toBe("aborted");
  expect(syncStopReason("interrupted", "interrupted")).toBe("interrupted");
  expect(syncStopReason("error", null)).toBe("error");
  expect(syncStopReason("final", "end_turn")).toBe("end_turn");
  expect(syncStopReason("final", "max_tokens")).toBe("max_tokens");
  expect(syncStopReason("final", "tool_use")).toBe("tool_use");
  expect(syncStopReason("final", "stop_sequence")).toBe("end_turn");
  expect(syncStopReason("final", "content_filter")).toBeUndefined();
  expect(syncStopReason(null, null)).toBeUndefined();
});

test("outbox entries: aborted and failed turns say so (with the error), a tombstone follows the messages", () => {
  const s = store();
  const session = s.getOrCreateSession("agent:main:x");
  s.startRun({ runId: "r1", sessionId: session.id, userText: "one" });
  s.finishRun("r1", { state: "aborted", text: "par", stopReason: "rpc" });
  s.startRun({ runId: "r2", sessionId: session.id, userText: "two" });
  s.finishRun("r2", { state: "error", text: "half", errorKind: "rate_limit", errorMessage: "slow down" });
  s.deleteSession("agent:main:x");
  const wire = s.pendingOutbox(100).map(wireEntry);
  expect(wire.map((e) => [e.kind ?? "message", e.role ?? null, e.stopReason ?? null])).toEqual([
    ["message", "user", null],
    ["message", "assistant", "aborted"],
    ["message", "user", null],
    ["message", "assistant", "error"],
    ["session_tombstone", null, null],
  ]);
  expect(wire[3]?.error).toEqual({ code: "rate_limit", message: "slow down" });
  expect(wire[4]).toEqual({
    kind: "session_tombstone",
    id: `tombstone:${session.id}`,
    seq: wire[4]?.seq,
    sessionKey: "agent:main:x",
    sessionId: session.id,
    deletedAt: expect.any(Number),
  });
  // The deleted session is gone from lists; its key is free for a new session.
  expect(s.listSessions(10)).toEqual([]);
  expect(s.getOrCreateSession("agent:main:x").id).not.toBe(session.id);
});

test("a deleted session is purged locally only once sync has every entry of it (tombstone included)", () => {
  const s = store();
  const keep = s.getOrCreateSession("agent:main:keep");
  s.startRun({ runId: "k1", sessionId: keep.id, userText: "stay" });
  const gone = s.getOrCreateSession("agent:main:gone");
  s.startRun({ runId: "g1", sessionId: gone.id, userText: "bye" });
  s.finishRun("g1", { state: "final", text: "ok", stopReason: "end_turn" });
  s.deleteSession("agent:main:gone");
  expect(s.purgeDeletedSessions()).toEqual([]); // nothing delivered yet
  const pending = s.pendingOutbox(100);
  s.markDelivered(pending.filter((e) => e.kind === "message").map((e) => e.seq));
  expect(s.purgeDeletedSessions()).toEqual([]); // the tombstone is still to go
  s.markDelivered(pending.map((e) => e.seq));
  expect(s.purgeDeletedSessions()).toEqual([gone.id]);
  expect(s.listMessages(gone.id)).toEqual([]);
  expect(s.getRun("g1")).toBeNull();
  expect(s.listMessages(keep.id).map((m) => m.content[0]?.text)).toEqual(["stay"]);
  expect(s.findSessionById(gone.id)?.deletedAt).toBeNumber();
  expect(s.purgeDeletedSessions()).toEqual([]);
});
