/**
 * Sync retry timing (sync-v1): full-jitter exponential backoff, and a server's `Retry-After`
 * (clamped to an hour) as a floor that jitter never shortens.
 */
import { type BackoffPolicy, backoffDelay, parseRetryAfter } from "../shared/backoff.ts";

/** The windows (from SYNC_BACKOFF_BASE_MS / SYNC_BACKOFF_CAP_MS); the jitter is always full. */
export type SyncBackoff = Pick<BackoffPolicy, "baseMs" | "capMs">;

/** sync-v1: first window 1 s, largest 5 min. */
export const SYNC_BACKOFF: SyncBackoff = { baseMs: 1_000, capMs: 5 * 60_000 };

/** Longest Retry-After we honour; a larger value is clamped so a bad header cannot park the worker. */
export const MAX_RETRY_AFTER_MS = 60 * 60_000;

/** A receiver's `Retry-After` → ms from `nowMs` (clamped to MAX_RETRY_AFTER_MS), or undefined. */
export const syncRetryAfterMs = (value: string | null | undefined, nowMs: number): number | undefined =>
  parseRetryAfter(value, { nowMs, maxMs: MAX_RETRY_AFTER_MS });

/** The delay to wait: the jittered backoff, but never less than what the server asked for. */
export function retryDelay(
  failures: number,
  policy: SyncBackoff,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const jitter = backoffDelay(failures, { ...policy, jitter: "full" }, random);
  return retryAfterMs === undefined ? jitter : Math.max(jitter, retryAfterMs);
}
