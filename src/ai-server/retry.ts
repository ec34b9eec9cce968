/** Our one retry loop's policy: jittered exponential backoff, provider retry-after hints win. */

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
  /** Upper bound for a provider's retry-after hint. */
  maxHintMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, capMs: 8_000, maxHintMs: 60_000 };

/** Delay before retry number `retry` (1-based). */
export function backoffMs(
  retry: number,
  hintMs: number | undefined,
  random: () => number = Math.random,
  p = DEFAULT_BACKOFF,
): number {
  if (hintMs !== undefined) return Math.min(Math.max(0, hintMs), p.maxHintMs);
  const exp = Math.min(p.capMs, p.baseMs * 2 ** (retry - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** Wait `ms` unless `signal` aborts first (then resolve false). */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
