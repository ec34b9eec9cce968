/**
 * Stored messages as protocol-4 clients read them: the protocol-3 wire message plus OpenClaw's
 * transcript meta `__openclaw: {id, seq, idempotencyKey}` — the Control UI matches its optimistic
 * user message to the stored one by the idempotency key (our run id) — and, for chat.history with
 * `inputRunIds`, the receipts that say those inputs were taken.
 */
import type { Store, StoredMessage } from "../shared/store/index.ts";
import type { ChatEventPayload } from "./chat-run.ts";
import { type WireMessage, wireMessage } from "./stored-messages.ts";

/** An attachment as OpenClaw transcripts carry it: the bytes inline (base64). */
export interface AttachmentBlock {
  type: "image" | "document";
  mimeType: string;
  data: string;
  fileName?: string;
}

export type WireMessage4 = Omit<WireMessage, "content"> & {
  content: ({ type: "text"; text: string } | AttachmentBlock)[];
  __openclaw: { id: string; seq?: number; idempotencyKey?: string };
  idempotencyKey?: string;
};

export type AttachmentSource = Pick<Store, "attachmentData">;

export function wireMessage4(m: StoredMessage, store: AttachmentSource, seq?: number): WireMessage4 {
  const w: WireMessage4 = { ...wireMessage(m), __openclaw: { id: m.id } };
  for (const b of m.content) {
    if (b.type === "text") continue;
    const data = store.attachmentData(b.attachmentId);
    if (!data) continue; // a deleted session's files: the message's text still shows
    w.content.push({
      type: b.type,
      mimeType: b.mimeType,
      data: Buffer.from(data).toString("base64"),
      ...(b.fileName ? { fileName: b.fileName } : {}),
    });
  }
  if (seq !== undefined) w.__openclaw.seq = seq;
  if (m.role === "user" && m.runId) {
    w.__openclaw.idempotencyKey = m.runId;
    w.idempotencyKey = m.runId;
  }
  return w;
}

export type ChatEventPayload4 = Omit<ChatEventPayload, "message"> & {
  message?: NonNullable<ChatEventPayload["message"]> & { __openclaw?: { id: string } };
};

/**
 * A chat event as protocol-4 clients read it: a terminal event's (final / aborted / error) message
 * carries the stored reply's transcript id, `__openclaw.id` — the id its `session.message` and
 * chat.history entry carry. The Control UI identifies a message by that id (else by `seq`); a final
 * message with neither is a different message to it than the stored one, so when chat.history or
 * session.message brings the stored reply the UI showed it twice. Deltas stay as they are (the
 * reply is not stored yet); protocol 3 never gets this (app.ts sends it the payload unchanged).
 */
export function chatEvent4(p: ChatEventPayload, assistantMessageId: string | null): ChatEventPayload4 {
  if (p.state === "delta" || !p.message || !assistantMessageId) return p;
  return { ...p, message: { ...p.message, __openclaw: { id: assistantMessageId } } };
}

/** History under `maxBytes` of JSON, oldest dropped first (same rule as historyPayload). */
export function historyPayload4(
  messages: StoredMessage[],
  maxBytes: number,
  store: AttachmentSource,
): WireMessage4[] {
  const wire = messages.map((m, i) => wireMessage4(m, store, i + 1));
  const sizeOf = (m: WireMessage4) => Buffer.byteLength(JSON.stringify(m)) + 1;
  const sizes = wire.map(sizeOf);
  let total = sizes.reduce((a, b) => a + b, 0) + 1;
  // Over budget: first the attachment bytes of the oldest messages give way (a short text note
  // stays in their place), then whole messages, oldest first.
  for (let i = 0; i < wire.length && total > maxBytes; i++) {
    const m = wire[i] as WireMessage4;
    if (!m.content.some((b) => b.type !== "text")) continue;
    m.content = m.content.map((b) =>
      b.type === "text"
        ? b
        : { type: "text", text: `[${b.type}${b.fileName ? ` ${b.fileName}` : ""}: not loaded]` },
    );
    const size = sizeOf(m);
    total += size - (sizes[i] as number);
    sizes[i] = size;
  }
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
