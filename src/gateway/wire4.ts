/**
 * Stored messages as protocol-4 clients read them: the protocol-3 wire message plus OpenClaw's
 * transcript meta `__openclaw: {id, seq, idempotencyKey}` — the Control UI matches its optimistic
 * user message to the stored one by the idempotency key (our run id) — and, for chat.history with
 * `inputRunIds`, the receipts that say those inputs were taken.
 */
import type { Store, StoredMessage } from "../shared/store/index.ts";
import { type WireMessage, wireMessage } from "./context.ts";

export type WireMessage4 = WireMessage & {
  __openclaw: { id: string; seq?: number; idempotencyKey?: string };
  idempotencyKey?: string;
};

export function wireMessage4(m: StoredMessage, seq?: number): WireMessage4 {
  const w: WireMessage4 = { ...wireMessage(m), __openclaw: { id: m.id } };
  if (seq !== undefined) w.__openclaw.seq = seq;
  if (m.role === "user" && m.runId) {
    w.__openclaw.idempotencyKey = m.runId;
    w.idempotencyKey = m.runId;
  }
  return w;
}

/** History under `maxBytes` of JSON, oldest dropped first (same rule as historyPayload). */
export function historyPayload4(messages: StoredMessage[], maxBytes: number): WireMessage4[] {
  const wire = messages.map((m, i) => wireMessage4(m, i + 1));
  const sizes = wire.map((m) => Buffer.byteLength(JSON.stringify(m)) + 1);
  let total = sizes.reduce((a, b) => a + b, 0) + 1;
  let start = 0;
  while (start < wire.length && total > maxBytes) {
    total -= sizes[start] as number;
    start++;
  }
  return wire.slice(start);
}

/** Receipts for chat.history's `inputRunIds`: a run we know took its input into the transcript. */
export function inputReceipts(store: Store, sessionId: string | undefined, runIds: string[]) {
  const receipts: { runId: string; state: "consumed"; consumedByEventId: string }[] = [];
  for (const runId of runIds.slice(0, 50)) {
    const run = store.getRun(runId);
    if (run && run.sessionId === sessionId && run.userMessageId) {
      receipts.push({ runId, state: "consumed", consumedByEventId: run.userMessageId });
    }
  }
  return {
    inputReceipts: receipts,
    inputConsumptions: receipts.map((r) => ({ runId: r.runId, consumedByEventId: r.consumedByEventId })),
  };
}
