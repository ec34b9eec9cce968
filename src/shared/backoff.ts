/**
 * Waiting before trying again, for every process: exponential backoff (with the jitter each caller
 * needs), the one abortable sleep, and the one `Retry-After` parser. Callers pass their own
 * numbers (bases and caps differ: the AI server retries in ms–s, sync in s–min, the supervisor
 * restarts children without jitter).
 */

export interface BackoffPolicy {
  /** The first delay (attempt 1). */
  baseMs: number;
  /** The largest delay. */
  capMs: number;
  /**
   * none: exactly min(cap, base·2^(attempt-1)); equal: uniform in [half of that, all of it];
   * full: uniform in [0, all of it) (AWS architecture blog, "Exponential Backoff And Jitter").
   */
  jitter: "none" | "equal" | "full";
}

/** Doublings beyond this cannot matter (2^40 ms is 35 years) and would overflow to Infinity. */
const MAX_DOUBLINGS = 40;

/** The delay before attempt number `attempt` (1 = the first retry). `random` returns [0, 1). */
export function backoffDelay(attempt: number, p: BackoffPolicy, random: () => number = Math.random): number {
  const window = Math.min(p.capMs, p.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), MAX_DOUBLINGS));
  if (p.jitter === "none") return window;
  if (p.jitter === "equal") return Math.round(window / 2 + random() * (window / 2));
  return Math.floor(random() * window);
}

/**
 * Wait `ms` unless `signal` aborts first. Resolves true when the whole wait passed, false when it
 * was cut short (or the signal was already aborted). Never rejects; the timer is cleared on abort.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A delay as a `Retry-After` header value: whole seconds, rounded up (never earlier than asked). */
export function retryAfterHeader(ms: number): string {
  return String(Math.ceil(ms / 1000));
}

/**
 * A `Retry-After` value (delta-seconds or an HTTP date) → milliseconds from `nowMs`, at most
 * `maxMs` (a bad header must not park the caller); undefined when absent or invalid.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  { nowMs = Date.now(), maxMs = Number.POSITIVE_INFINITY }: { nowMs?: number; maxMs?: number } = {},
): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.min(Math.round(Number(v) * 1000), maxMs);
  if (!/^[A-Za-z]{3},? /.test(v)) return undefined; // an HTTP date starts with the day name
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - nowMs, 0), maxMs);
}
