/**
 * One sync-v1 push: build the exact body, sign it, POST it, and classify the answer into what the
 * runner must do next. No state here: the runner owns retries, acks and logging.
 */
import { type OutboxEntry, wireEntry } from "../shared/store/index.ts";
import { syncRetryAfterMs } from "./backoff.ts";
import { signedHeaders } from "./sign.ts";

export const PUSH_PATH = "/sync/v1/push";

export interface PushTarget {
  /** The Convex HTTP-actions host (CONVEX_SITE_URL), without a trailing slash. */
  siteUrl: string;
  userId: string;
  machineId: string | null;
  secret: string;
  /** Timeout of one request (headers and body). */
  timeoutMs: number;
}

/**
 * A sync-v1 entry, exactly as sent: a message (no `kind`) or a `session_tombstone` /
 * `attachment_chunk` (docs/SYNC.md). Built by the store's `wireEntry` (no bookkeeping fields).
 */
export type WireEntry = Record<string, unknown> & { id: string; seq: number };

export interface PushBody {
  batchId: string;
  userId: string;
  machineId: string | null;
  entries: WireEntry[];
}

export function toWireEntry(e: OutboxEntry): WireEntry {
  return wireEntry(e) as WireEntry;
}

export function buildBody(
  entries: OutboxEntry[],
  t: Pick<PushTarget, "userId" | "machineId">,
  batchId: string,
): PushBody {
  return { batchId, userId: t.userId, machineId: t.machineId, entries: entries.map(toWireEntry) };
}

/** What the runner does with an answer. */
export type PushOutcome =
  | { kind: "ok"; status: number; ackedThroughSeq: number; inserted?: number; duplicates?: number }
  /** Network error, timeout, 408, 429, 5xx, or anything unexpected: back off and retry the same entries. */
  | { kind: "retry"; status?: number; retryAfterMs?: number; message: string }
  /**
   * 401/403: a configuration fault; retry slowly. `clockSkewMs` = our clock minus the receiver's
   * (from its `Date` header), when it answered one.
   */
  | { kind: "auth"; status: number; message: string; clockSkewMs?: number }
  /** 400/413: the receiver refuses these entries; split the batch. */
  | { kind: "reject"; status: number; message: string }
  /** Our own stop aborted the request: nothing was acknowledged. */
  | { kind: "aborted"; message: string };

export interface PushResult {
  batchId: string;
  bytes: number;
  durationMs: number;
  outcome: PushOutcome;
}

/** First 200 characters of an error body, on one line (the receiver's reason, for logs and status). */
function snippet(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}

/** Classify an HTTP answer. `bodyText` is the raw response body. */
export function classifyResponse(
  status: number,
  headers: Headers,
  bodyText: string,
  nowMs: number,
): PushOutcome {
  if (status >= 200 && status < 300) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(bodyText);
    } catch {
      parsed = undefined;
    }
    const p = parsed as { ackedThroughSeq?: unknown; inserted?: unknown; duplicates?: unknown } | undefined;
    if (!p || typeof p.ackedThroughSeq !== "number" || !Number.isInteger(p.ackedThroughSeq)) {
      // Without an ack we cannot know what was stored: keep everything pending and retry.
      return {
        kind: "retry",
        status,
        message: `${status} without a valid ackedThroughSeq: ${snippet(bodyText)}`,
      };
    }
    return {
      kind: "ok",
      status,
      ackedThroughSeq: p.ackedThroughSeq,
      ...(typeof p.inserted === "number" ? { inserted: p.inserted } : {}),
      ...(typeof p.duplicates === "number" ? { duplicates: p.duplicates } : {}),
    };
  }
  const reason = `HTTP ${status}${bodyText ? `: ${snippet(bodyText)}` : ""}`;
  if (status === 401 || status === 403) {
    const theirs = Date.parse(headers.get("date") ?? "");
    return {
      kind: "auth",
      status,
      message: reason,
      ...(Number.isNaN(theirs) ? {} : { clockSkewMs: nowMs - theirs }),
    };
  }
  if (status === 400 || status === 413) return { kind: "reject", status, message: reason };
  const retryAfterMs = syncRetryAfterMs(headers.get("retry-after"), nowMs);
  return { kind: "retry", status, message: reason, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

export interface PushDeps {
  fetch: typeof fetch;
  now: () => number;
  /** Aborted by the runner's stop (after the grace period). */
  signal?: AbortSignal;
  newBatchId?: () => string;
}

/** A batch as it goes on the wire: the exact bytes that are signed and sent. */
export interface EncodedBatch {
  batchId: string;
  rawBody: string;
  /** UTF-8 length of `rawBody`. */
  bytes: number;
}

export function encodeBatch(
  entries: OutboxEntry[],
  target: Pick<PushTarget, "userId" | "machineId">,
  batchId: string = crypto.randomUUID(),
): EncodedBatch {
  const rawBody = JSON.stringify(buildBody(entries, target, batchId));
  return { batchId, rawBody, bytes: Buffer.byteLength(rawBody) };
}

/** POST one batch. Never throws: every failure is an outcome. */
export async function pushBatch(
  entries: OutboxEntry[],
  target: PushTarget,
  deps: PushDeps,
): Promise<PushResult> {
  return postBatch(encodeBatch(entries, target, deps.newBatchId?.() ?? crypto.randomUUID()), target, deps);
}

/** POST an encoded batch, signed at send time. Never throws: every failure is an outcome. */
export async function postBatch(
  batch: EncodedBatch,
  target: PushTarget,
  deps: PushDeps,
): Promise<PushResult> {
  const { batchId, rawBody, bytes } = batch;
  const started = performance.now();
  const timeout = AbortSignal.timeout(target.timeoutMs);
  const signal = deps.signal ? AbortSignal.any([deps.signal, timeout]) : timeout;
  const done = (outcome: PushOutcome): PushResult => ({
    batchId,
    bytes,
    durationMs: Math.round(performance.now() - started),
    outcome,
  });
  try {
    const res = await deps.fetch(`${target.siteUrl}${PUSH_PATH}`, {
      method: "POST",
      headers: signedHeaders({ secret: target.secret, userId: target.userId, rawBody, nowMs: deps.now() }),
      body: rawBody,
      redirect: "manual",
      signal,
    });
    const text = await res.text();
    return done(classifyResponse(res.status, res.headers, text, deps.now()));
  } catch (e) {
    if (deps.signal?.aborted) return done({ kind: "aborted", message: "aborted by shutdown" });
    if (timeout.aborted) return done({ kind: "retry", message: `timed out after ${target.timeoutMs} ms` });
    const err = e as { code?: string; message?: string };
    return done({
      kind: "retry",
      message: `network error: ${err.code ? `${err.code} ` : ""}${err.message ?? String(e)}`,
    });
  }
}
