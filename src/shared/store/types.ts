/** Row shapes of the store, as the processes see them (camelCase, JSON columns parsed). */

import type { ChatUsage } from "../chat-api.ts";

export interface TextBlock {
  type: "text";
  text: string;
}

export interface Session {
  id: string;
  key: string;
  createdAt: number;
  updatedAt: number;
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
  content: TextBlock[];
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
  content: TextBlock[];
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

/** One outbox entry joined with its message and session: exactly the sync-v1 entry fields. */
export interface OutboxEntry {
  seq: number;
  id: string;
  sessionKey: string;
  sessionId: string;
  role: "user" | "assistant";
  content: TextBlock[];
  createdAt: number;
  model?: string;
  usage?: ChatUsage;
  stopReason?: string;
  error?: TurnError;
  attempts: number;
  /** Serialized size of the entry, for batch byte limits. */
  bytes: number;
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
