/**
 * What stored messages become: what a run sends to the model, and how they look on the wire:
 * - `buildContext`: the session's answered turns (user message + reply, never merged, never twice)
 *   and the run's own message last, trimmed to a character budget (oldest turns dropped first).
 * - `historyPayload`: `chat.history` messages (oldest → newest) kept under a byte cap.
 * - `wireUsage` / `errorKindOf`: the store's and the AI server's shapes mapped to the protocol's.
 */
import type { ChatUsage } from "../shared/chat-api.ts";
import type { AttachmentRef, StoredMessage } from "../shared/store/index.ts";

export interface ContextMessage {
  role: "user" | "assistant";
  content: string;
  /** The message's images / PDFs (references; chat-run loads the bytes for the AI server). */
  attachments?: AttachmentRef[];
}

export function messageText(m: StoredMessage): string {
  return m.content.map((b) => b.text).join("");
}

/**
 * The context of one run: the session's earlier turns, each its user message then its reply, in
 * the order the user messages arrived, and the run's own user message last.
 * - A turn is in the context only when its reply has text (a final reply, or the partial text of a
 *   turn that was stopped or failed midway: what the user saw). A turn that got no reply text is
 *   left out entirely, never merged into a neighbour: it reaches the model again only when the
 *   client retries it (chat.send with the same idempotency key, which runs that turn again).
 * - A retried turn's own earlier attempts are never in its context; user messages of runs queued
 *   behind this one have no reply yet, so they are not either.
 * - Nothing is merged and nothing appears twice. Within the character budget, the oldest whole
 *   turns are dropped first; the own message is always kept.
 * Messages stored without a run (imported) count as turns of their own, in order.
 */
export function buildContext(
  history: StoredMessage[],
  userMessageId: string,
  budgetChars: number,
): ContextMessage[] {
  const own = history.find((m) => m.id === userMessageId);
  const ownRun = own?.runId ?? undefined;
  // A message as the model gets it: its text and its attachments (images / PDFs, by reference).
  const toContext = (m: StoredMessage): ContextMessage | undefined => {
    const text = messageText(m);
    const refs = m.content.filter((b): b is AttachmentRef => b.type !== "text");
    if (text.trim() === "" && refs.length === 0) return undefined;
    return { role: m.role, content: text, ...(refs.length > 0 ? { attachments: refs } : {}) };
  };
  // The reply of each run: its latest assistant message with text.
  const replies = new Map<string, ContextMessage>();
  for (const m of history) {
    const c = m.role === "assistant" && m.runId !== null ? toContext(m) : undefined;
    if (c && m.runId !== null) replies.set(m.runId, c);
  }
  const turns: ContextMessage[][] = [];
  for (const m of history) {
    if (m === own) continue;
    const c = toContext(m);
    if (!c) continue;
    if (m.runId === null) {
      turns.push([c]);
      continue;
    }
    if (m.role !== "user" || m.runId === ownRun) continue;
    const reply = replies.get(m.runId);
    if (reply) turns.push([c, reply]);
  }
  const ownContext = own ? toContext(own) : undefined;
  const last: ContextMessage[] = ownContext ? [ownContext] : [];
  // Newest turns first until the budget is spent; the own message is always kept.
  let used = last.reduce((n, m) => n + m.content.length, 0);
  const kept: ContextMessage[][] = [];
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i] as ContextMessage[];
    const size = turn.reduce((n, m) => n + m.content.length, 0);
    if (used + size > budgetChars) break;
    kept.unshift(turn);
    used += size;
  }
  const out = [...kept.flat(), ...last];
  while (out.length > 1 && out[0]?.role !== "user") out.shift();
  return out;
}

export interface WireUsage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  totalTokens: number;
  estimated?: boolean;
}

export function wireUsage(u: ChatUsage | null | undefined): WireUsage | undefined {
  if (!u) return undefined;
  const w: WireUsage = {
    input: u.inputTokens,
    output: u.outputTokens,
    cacheRead: u.cacheReadTokens,
    cacheWrite: u.cacheWriteTokens,
    totalTokens: u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens,
  };
  if (u.estimated) w.estimated = true;
  return w;
}

export type ErrorKind = "refusal" | "timeout" | "rate_limit" | "context_length" | "unknown";

/** Map an AI server error code (and message) to the protocol's errorKind. */
export function errorKindOf(code: string, message = ""): ErrorKind {
  const c = `${code} ${message}`.toLowerCase();
  if (/refus|content_filter|safety/.test(c)) return "refusal";
  if (/context|too long|too many tokens|prompt is too long/.test(c)) return "context_length";
  if (/rate_limit|rate limit|overloaded|429|quota/.test(c)) return "rate_limit";
  if (/timeout|timed out|deadline/.test(c)) return "timeout";
  return "unknown";
}

export interface WireMessage {
  role: "user" | "assistant";
  content: { type: "text"; text: string }[];
  timestamp: number;
  usage?: WireUsage;
  model?: string;
  stopReason?: string;
  /** Turns that ended aborted / interrupted / error: why, written for users. */
  errorMessage?: string;
  errorKind?: ErrorKind;
}

const ENDED_NOT_FINAL = new Set(["aborted", "interrupted", "error"]);

/** The line a client that shows only content blocks displays for a turn that did not end final. */
export function endNotice(status: string, message: string): string {
  if (status === "aborted") return `⏹ ${message}`;
  if (status === "interrupted") return `⚠ Reply interrupted: ${message}`;
  return `⚠ Reply failed: ${message}`;
}

/**
 * A stored message as `chat.history` sends it. An assistant turn that ended aborted / interrupted /
 * error keeps its partial text (if any) as the first block and gets ONE more text block, always
 * the last: a notice saying how it ended (so clients that only render content blocks show it),
 * beside `stopReason` (= the state) and `errorMessage` for clients that read them. The notice is
 * never part of the context sent to the model (buildContext reads the stored text).
 */
export function wireMessage(m: StoredMessage): WireMessage {
  const w: WireMessage = {
    role: m.role,
    // Text only: protocol-3 clients see the message's text; protocol 4 adds attachments (wire4.ts).
    content: m.content.flatMap((b) => (b.type === "text" ? [{ type: "text" as const, text: b.text }] : [])),
    timestamp: m.createdAt,
  };
  if (m.role === "assistant") {
    const u = wireUsage(m.usage);
    if (u) w.usage = u;
    if (m.model) w.model = m.model;
    if (m.stopReason) w.stopReason = m.stopReason;
    if (m.status && ENDED_NOT_FINAL.has(m.status)) {
      const message = m.error?.message ?? `The reply ended: ${m.status}.`;
      w.stopReason = m.status;
      w.errorMessage = message;
      if (m.status !== "aborted") w.errorKind = toErrorKind(m.error?.code);
      w.content.push({ type: "text", text: endNotice(m.status, message) });
    }
  }
  return w;
}

const ERROR_KINDS = new Set<string>(["refusal", "timeout", "rate_limit", "context_length", "unknown"]);

function toErrorKind(code: string | undefined): ErrorKind {
  if (code && ERROR_KINDS.has(code)) return code as ErrorKind;
  return code ? errorKindOf(code) : "unknown";
}

/** History messages under `maxBytes` of JSON, dropping the oldest first. */
export function historyPayload(messages: StoredMessage[], maxBytes: number): WireMessage[] {
  const wire = messages.map(wireMessage);
  const sizes = wire.map((m) => Buffer.byteLength(JSON.stringify(m)) + 1);
  // Each size counts its separating comma; +1 covers the brackets of the array.
  let total = sizes.reduce((a, b) => a + b, 0) + 1;
  let start = 0;
  while (start < wire.length && total > maxBytes) {
    total -= sizes[start] as number;
    start++;
  }
  return wire.slice(start);
}
