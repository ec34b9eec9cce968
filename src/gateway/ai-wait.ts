/**
 * Riding through an AI server restart. When a run cannot reach the AI server (connection refused,
 * the stream broke, or the server said it is shutting down) BEFORE any text of the reply arrived,
 * the run waits for the AI server to answer `/healthz` again — at most `waitMs` from its first
 * failure — and then tries again (chat-run.ts; a failure while `/healthz` answers is not a restart:
 * one more try, then the error). Past the bound the run ends `error` with a retryable error
 * written for users (never the runtime's own text).
 *
 * One probe loop is shared by every waiting run (backoff 100 ms doubling to 1 s), and its state
 * (reachable or not, since when, how many runs wait) is what `/readyz` and `health` report.
 */
import { abortableSleep } from "../shared/backoff.ts";
import { isPipbotError, PipbotError } from "../shared/errors.ts";
import type { AiClient } from "./ai-client.ts";

/** Why the AI server could not be used, as the AI client marks its errors (details.aiServer). */
export type AiServerFailure = "unreachable" | "stream_broken" | "shutting_down";

/** True when the failure means "the AI server is (re)starting": worth waiting for if no text came yet. */
export function isAiServerDown(e: unknown): boolean {
  if (!isPipbotError(e)) return false;
  if (e.code === "shutting_down") return true;
  const f = e.details?.aiServer;
  return f === "unreachable" || f === "stream_broken";
}

/** The AI server said it is draining before a restart (HTTP 503 or an SSE error event). */
export function isShuttingDown(e: unknown): boolean {
  return isPipbotError(e) && e.code === "shutting_down";
}

export function aiUnavailableError(waitMs: number): PipbotError {
  return new PipbotError(
    "unavailable",
    `The assistant is temporarily unavailable: its AI server did not answer for ${Math.round(waitMs / 1000)} s (it may be restarting). Please try again in a moment.`,
    { retryable: true, retryAfterMs: 2000, details: { aiServer: "unreachable" } },
  );
}

export interface AiAvailabilitySnapshot {
  reachable: boolean;
  /** Epoch ms since when it is unreachable (null while reachable). */
  downSince: number | null;
  /** Runs waiting for it right now. */
  waitingRuns: number;
  waitMs: number;
}

const PROBE_MIN_MS = 100;
const PROBE_MAX_MS = 1000;

export class AiAvailability {
  private downSince: number | null = null;
  private waiting = 0;
  private probing: Promise<void> | null = null;
  private up = Promise.withResolvers<void>();
  private stopped = new AbortController();

  constructor(
    private readonly ai: AiClient,
    readonly waitMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  snapshot(): AiAvailabilitySnapshot {
    return {
      reachable: this.downSince === null,
      downSince: this.downSince,
      waitingRuns: this.waiting,
      waitMs: this.waitMs,
    };
  }

  /** A probe or a request failed to reach the AI server (no-op when already known down). */
  markDown(): void {
    this.downSince ??= this.now();
  }

  /** A request reached the AI server: it is up (wakes every waiter). */
  markUp(): void {
    if (this.downSince === null) return;
    this.downSince = null;
    this.up.resolve();
    this.up = Promise.withResolvers<void>();
  }

  /**
   * Wait until the AI server answers `/healthz` or `deadline` (epoch ms) passes or `signal` aborts.
   * Resolves true when it is reachable again.
   */
  async waitReachable(deadline: number, signal: AbortSignal): Promise<boolean> {
    if (this.downSince === null) this.downSince = this.now();
    this.probing ??= this.probe().finally(() => {
      this.probing = null;
    });
    const up = this.up.promise;
    this.waiting++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const left = deadline - this.now();
      if (left <= 0) return false;
      return await Promise.race([
        up.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), left);
          onAbort = () => resolve(false);
          signal.addEventListener("abort", onAbort, { once: true });
        }),
      ]);
    } finally {
      this.waiting--;
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener("abort", onAbort);
    }
  }

  /** Stop probing (gateway stop). */
  stop(): void {
    this.stopped.abort();
  }

  private async probe(): Promise<void> {
    let delay = PROBE_MIN_MS;
    while (this.downSince !== null && !this.stopped.signal.aborted) {
      await abortableSleep(delay, this.stopped.signal);
      delay = Math.min(delay * 2, PROBE_MAX_MS);
      const h = await this.ai.health(Math.max(PROBE_MAX_MS, 500));
      if (h.ok) {
        this.markUp();
        return;
      }
      // No waiter left: stop probing; the next failing run starts it again.
      if (this.waiting === 0) return;
    }
  }
}

/** What `/readyz` and `health` say about the AI server's reachability and the runs waiting for it. */
export function aiWaitReport(a: AiAvailability, now: number) {
  const snap = a.snapshot();
  return {
    reachable: snap.reachable,
    downForMs: snap.downSince === null ? null : Math.max(0, now - snap.downSince),
    waitingRuns: snap.waitingRuns,
    waitMs: snap.waitMs,
  };
}

/**
 * The `ai` part of the `health` method from a `/healthz` probe: the AI server's own answer plus the
 * runs waiting for it, or why it is not reachable and since when (the probe also updates `a`).
 */
export function aiHealthView(
  probe: { ok: true; body: unknown } | { ok: false; error: string },
  a: AiAvailability,
  now: number,
): Record<string, unknown> {
  if (probe.ok) a.markUp();
  else a.markDown();
  const wait = aiWaitReport(a, now);
  if (!probe.ok) return { ok: false, error: `AI server ${probe.error}`, ...wait };
  const body =
    typeof probe.body === "object" && probe.body !== null && !Array.isArray(probe.body) ? probe.body : {};
  return { ok: true, ...body, waitingRuns: wait.waitingRuns };
}
