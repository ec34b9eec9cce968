/** The AI server's retry timing: equal-jitter exponential backoff; a provider's retry-after hint wins. */
import { type BackoffPolicy, backoffDelay } from "../shared/backoff.ts";

export const AI_RETRY_BACKOFF: BackoffPolicy & {
  /** Upper bound for a provider's retry-after hint. */ maxHintMs: number;
} = { baseMs: 250, capMs: 8_000, jitter: "equal", maxHintMs: 60_000 };

/** Delay before retry number `retry` (1-based). */
export function backoffMs(
  retry: number,
  hintMs: number | undefined,
  random: () => number = Math.random,
  p = AI_RETRY_BACKOFF,
): number {
  if (hintMs !== undefined) return Math.min(Math.max(0, hintMs), p.maxHintMs);
  return backoffDelay(retry, p, random);
}
