/**
 * Per-attempt phase timeouts under the request's total deadline: a streamed upstream call's
 * connect → first token → idle between tokens, or a non-stream upstream call's whole response. Arming a phase replaces the previous one; one timer serves both; when one expires
 * the attempt is aborted and `expired` names the phase, or "total".
 */
import { PipbotError } from "../shared/errors.ts";

export type Phase = "connect" | "first_token" | "idle" | "response";

const VARS: Record<Phase | "total", string> = {
  connect: "AI_CONNECT_TIMEOUT_MS",
  first_token: "AI_FIRST_TOKEN_TIMEOUT_MS",
  idle: "AI_IDLE_TIMEOUT_MS",
  response: "AI_RESPONSE_TIMEOUT_MS",
  total: "AI_TOTAL_TIMEOUT_MS",
};

const WHAT: Record<Phase | "total", string> = {
  connect: "connect timeout: no response headers",
  first_token: "first-token timeout: no first token",
  idle: "idle timeout: no token",
  response: "response timeout: no whole answer",
  total: "total timeout: the request did not finish",
};

/** The `timeout` error for a phase, naming it and its variable. */
export function timeoutError(phase: Phase | "total", ms: number, modelId: string): PipbotError {
  const tail = phase === "idle" ? `for ${ms} ms after the previous one` : `within ${ms} ms`;
  return new PipbotError("timeout", `${WHAT[phase]} from ${modelId} ${tail} (${VARS[phase]})`, {
    retryable: phase !== "total",
    details: { phase, timeoutMs: ms },
  });
}

/** The time source a PhaseTimer reads and schedules on (tests pass a manual one). */
export interface TimerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_CLOCK: TimerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** The request's whole-time limit: when it ends (clock ms) and its setting (ms). */
export interface TotalDeadline {
  at: number;
  ms: number;
}

export class PhaseTimer {
  expired: { phase: Phase | "total"; ms: number } | undefined;
  private timer: unknown;
  /** When the pending timer fires (clock ms). */
  private timerDue = 0;
  private phase: Phase = "connect";
  private ms = 0;
  private deadline = 0;
  /** The armed phase's own deadline (`deadline` is the nearer of it and the total's). */
  private phaseDeadline = 0;

  constructor(
    private readonly onExpire: () => void,
    private readonly clock: TimerClock = REAL_CLOCK,
    private readonly total?: TotalDeadline,
  ) {}

  /**
   * Start `phase` with `ms` from now. Re-arming for every token must stay cheap: a pending timer
   * that fires no later than the new deadline is kept and, when it fires early, re-armed for the
   * remainder — so a stream costs one timer per idle period, not a setTimeout per token.
   */
  arm(phase: Phase, ms: number): void {
    this.phase = phase;
    this.ms = ms;
    this.phaseDeadline = this.clock.now() + ms;
    this.deadline = this.total ? Math.min(this.phaseDeadline, this.total.at) : this.phaseDeadline;
    if (this.timer !== undefined && this.timerDue <= this.deadline) return;
    this.schedule(this.deadline - this.clock.now());
  }

  clear(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timerDue = this.clock.now() + ms;
    this.timer = this.clock.setTimeout(() => this.fire(), ms);
  }

  private fire(): void {
    this.timer = undefined;
    const left = this.deadline - this.clock.now();
    // setTimeout may fire up to ~1 ms early by performance.now(); only a real remainder re-arms.
    if (left > 1) {
      this.schedule(left);
      return;
    }
    this.expired =
      this.total && this.total.at < this.phaseDeadline
        ? { phase: "total", ms: this.total.ms }
        : { phase: this.phase, ms: this.ms };
    this.onExpire();
  }
}
