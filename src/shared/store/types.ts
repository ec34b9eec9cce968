/** Row shapes of the store, as the processes see them (camelCase, JSON columns parsed). */

import type { ChatUsage } from "../chat-api.ts";
import type { UsageProblemReporter } from "./usage-writer.ts";

export interface TextBlock {
  type: "text";
  text: string;
}

/**
 * An attachment of a message, by reference (sync-v1 content block): the bytes live in the
 * attachments table and travel to Convex as attachment_chunk entries.
 */
export interface AttachmentRef {
  type: "image" | "document";
  attachmentId: string;
  mimeType: string;
  fileName?: string;
  size: number;
  /** Lowercase hex SHA-256 of the whole file. */
  sha256: string;
  /** Never set: lets readers take `block.text` of any block (undefined for a reference). */
  text?: never;
}

export type ContentBlock = TextBlock | AttachmentRef;

/** An attachment to store with a user message (validated by the gateway). */
export interface NewAttachment {
  ref: AttachmentRef;
  data: Uint8Array;
}

/** The text of a message's content (attachment references have none). */
export function contentText(content: ContentBlock[]): string {
  return content.map((b) => (b.type === "text" ? b.text : "")).join("");
}

export interface Session {
  id: string;
  /** The key clients use (for a retired row: the key it had, see `retiredAt`). */
  key: string;
  createdAt: number;
  updatedAt: number;
  label?: string;
  /** The model later turns of this session use (sessions.patch); unset: the default model. */
  model?: string;
  /** Set on an old transcript replaced by sessions.reset, or on a deleted session. */
  retiredAt?: number;
  deletedAt?: number;
}

export type MessageStatus = "final" | "aborted" | "error" | "interrupted";

/** Why a turn did not end with a final reply: a short code and a sentence written for users. */
export interface TurnError {
  code: string;
  message: string;
}

export interface StoredMessage {
  id: string;
  sessionId: string;
  runId: string | null;
  role: "user" | "assistant";
  content: ContentBlock[];
  createdAt: number;
  model: string | null;
  usage: ChatUsage | null;
  stopReason: string | null;
  status: MessageStatus | null;
  /** Set on assistant turns that ended aborted / interrupted / error. */
  error: TurnError | null;
}

export interface NewMessage {
  sessionId: string;
  role: "user" | "assistant";
  content: ContentBlock[];
  runId?: string;
  id?: string;
  createdAt?: number;
  model?: string;
  usage?: ChatUsage;
  stopReason?: string;
  status?: MessageStatus;
  error?: TurnError;
}

export type RunState = "running" | "final" | "aborted" | "error" | "interrupted";

export interface Run {
  runId: string;
  sessionId: string;
  state: RunState;
  startedAt: number;
  endedAt: number | null;
  userMessageId: string | null;
  assistantMessageId: string | null;
  partialText: string;
  model: string | null;
  errorMessage: string | null;
  errorKind: string | null;
  stopReason: string | null;
  /** 1, plus one for each retry of the turn after it failed (same idempotency key). */
  attempts: number;
}

/** One message outbox entry joined with its message and session: exactly the sync-v1 entry fields. */
export interface MessageOutboxEntry {
  kind: "message";
  seq: number;
  id: string;
  sessionKey: string;
  sessionId: string;
  role: "user" | "assistant";
  content: ContentBlock[];
  createdAt: number;
  model?: string;
  usage?: ChatUsage;
  /** sync-v1: end_turn|max_tokens|tool_use|aborted|interrupted|error. */
  stopReason?: string;
  error?: TurnError;
  attempts: number;
  /** Serialized size of the entry, for batch byte limits. */
  bytes: number;
}

/** A sync-v1 entry of another kind: its wire fields (without seq) are `body`. */
export interface OtherOutboxEntry {
  kind: "session_tombstone" | "attachment_chunk";
  seq: number;
  id: string;
  body: Record<string, unknown>;
  attempts: number;
  bytes: number;
}

export type OutboxEntry = MessageOutboxEntry | OtherOutboxEntry;

/** Raw bytes per attachment_chunk entry (sync-v1: one chunk always fits a 10^6-byte batch). */
export const ATTACHMENT_CHUNK_BYTES = 262_144;

/** The sync-v1 wire form of an entry: exactly its keys, nothing of our bookkeeping. */
export function wireEntry(e: OutboxEntry): Record<string, unknown> {
  if (e.kind !== "message") return { kind: e.kind, id: e.id, seq: e.seq, ...e.body };
  const { attempts: _a, bytes: _b, kind: _k, ...wire } = e;
  return wire;
}

export interface OutboxStats {
  pending: number;
  oldestPendingAt: number | null;
  quarantined: number;
  delivered: number;
  lastSeq: number;
}

export interface UsageRecord {
  requestId: string;
  ts?: number;
  provider: string;
  model: string;
  status: string;
  usage: ChatUsage;
  latencyMs?: number;
  ttftMs?: number;
  attempts?: number;
  conversationId?: string;
  errorCode?: string;
  /**
   * The user the request is attributed to: the caller's forwarded CLERK_USER_ID, else the AI
   * server's own (proxy mode); unset in direct mode without a forwarded identity.
   */
  userId?: string;
  /**
   * The end user the caller named in the request (OpenAI `user` / `safety_identifier`, /chat
   * `user`, Anthropic `metadata.user_id`): the caller's own customer, not the billed `userId`.
   */
  endUser?: string;
}

/** Usage of one conversation, provider, model and day (the gateway's usage panels). */
export interface UsageGroup {
  conversationId: string | null;
  provider: string;
  model: string;
  day: string;
  requests: number;
  failedRequests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  firstAt: number;
  lastAt: number;
}

/** One AI server request's tokens (the gateway's per-session usage timeline). */
export interface UsageRequest {
  ts: number;
  provider: string;
  model: string;
  status: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export interface UsageTotal {
  provider: string;
  model: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  estimatedRequests: number;
  failedRequests: number;
}

/** How a Store opens (store.ts). */
export interface StoreOptions {
  /** Milliseconds a statement waits for another process's write lock. */
  busyTimeoutMs?: number;
  readonly?: boolean;
  /** Run migrations (default true). Readers in other processes may skip. */
  migrate?: boolean;
  now?: () => number;
  /** Where usage write problems go (usage-writer.ts); the AI server logs them. Default: stderr. */
  onUsageProblem?: UsageProblemReporter;
}
