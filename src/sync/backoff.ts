/**
 * Retry timing: full-jitter exponential backoff (AWS architecture blog, "Exponential Backoff And
 * Jitter") and `Retry-After` parsing (delta-seconds or an HTTP date).
 */

export interface BackoffPolicy {
  /** First retry window (sync-v1: 1 s). */
  baseMs: number;
  /** Largest window (sync-v1: 5 min). */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 5 * 60_000 };

/** Longest Retry-After we honour; a larger value is clamped so a bad header cannot park the worker. */
export const MAX_RETRY_AFTER_MS = 60 * 60_000;

/**
 * The delay before retry number `failures` (1 = first retry): uniform in [0, min(cap, base·2^(failures-1))].
 * `random` returns [0, 1) and is injected by tests.
 */
export function fullJitterDelay(
  failures: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exp = Math.min(Math.max(failures - 1, 0), 40);
  const window = Math.min(policy.capMs, policy.baseMs * 2 ** exp);
  return Math.floor(random() * window);
}

/** `Retry-After` (seconds or HTTP date) → milliseconds from `nowMs`, or undefined when absent/invalid. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.min(Math.round(Number(v) * 1000), MAX_RETRY_AFTER_MS);
  if (!/^[A-Za-z]{3},? /.test(v)) return undefined; // an HTTP date starts with the day name
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - nowMs, 0), MAX_RETRY_AFTER_MS);
}

/** The delay to wait: the jittered backoff, but never less than what the server asked for. */
export function retryDelay(
  failures: number,
  policy: BackoffPolicy,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const jitter = fullJitterDelay(failures, policy, random);
  return retryAfterMs === undefined ? jitter : Math.max(jitter, retryAfterMs);
}
