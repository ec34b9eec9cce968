/**
 * What stored messages become: what a run sends to the model, and how they look on the wire:
 * - `buildContext`: the session's history up to the run's own user message, same-role neighbours
 *   merged, trimmed to a character budget (oldest dropped first; the newest user turn always kept).
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

export function buildContext(
  history: StoredMessage[],
  userMessageId: string,
  budgetChars: number,
): ContextMessage[] {
  // Runs of a session are serialised but their user messages are stored on arrival, so the history
  // may hold user messages of runs queued behind this one (drop them) and replies of earlier runs
  // stored after this run's user message (keep them). This run's own message goes last.
  const idx = history.findIndex((m) => m.id === userMessageId);
  const own = idx >= 0 ? (history[idx] as StoredMessage) : undefined;
  const ordered = history.filter((m, i) => i !== idx && !(idx >= 0 && i > idx && m.role === "user"));
  if (own) ordered.push(own);
  const merged: ContextMessage[] = [];
  for (const m of ordered) {
    const text = messageText(m);
    const refs = m.content.filter((b): b is AttachmentRef => b.type !== "text");
    if (text.trim() === "" && refs.length === 0) continue;
    const last = merged[merged.length - 1];
    if (last && last.role === m.role) {
      last.content = last.content && text ? `${last.content}\n\n${text}` : last.content || text;
      if (refs.length > 0) last.attachments = [...(last.attachments ?? []), ...refs];
    } else merged.push({ role: m.role, content: text, ...(refs.length > 0 ? { attachments: refs } : {}) });
  }
  // Newest first until the budget is spent; the newest message is always kept.
  const kept: ContextMessage[] = [];
  let used = 0;
  for (let i = merged.length - 1; i >= 0; i--) {
    const m = merged[i] as ContextMessage;
    if (kept.length > 0 && used + m.content.length > budgetChars) break;
    kept.unshift(m);
    used += m.content.length;
  }
  while (kept.length > 1 && kept[0]?.role !== "user") kept.shift();
  return kept;
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
}

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
  }
  return w;
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
