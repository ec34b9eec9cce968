/**
 * Restart policy: exponential backoff reset after a stable uptime, crash-loop detection over a
 * sliding window, and the exit code the supervisor reports. Pure functions of their inputs and an
 * explicit `now`, so they are unit-tested without processes or clocks.
 */

import { backoffDelay } from "../shared/backoff.ts";

export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
  /** Uptime after which a child counts as stable: its next crash restarts fast again. */
  stableMs: number;
}

/** Per-child backoff: first retry after `initialMs`, doubling on each consecutive crash, capped. */
export class Backoff {
  private consecutive = 0;

  constructor(private readonly s: BackoffSettings) {}

  /** Delay before restarting a child that exited after `uptimeMs`. */
  next(uptimeMs: number): number {
    if (uptimeMs >= this.s.stableMs) this.consecutive = 0;
    this.consecutive++;
    return backoffDelay(this.consecutive, { baseMs: this.s.initialMs, capMs: this.s.maxMs, jitter: "none" });
  }
}

export interface CrashLoopSettings {
  /** More than this many restarts inside the window is a crash loop. */
  maxRestarts: number;
  windowMs: number;
}

/** Sliding window of restart times for one child. */
export class CrashLoopWindow {
  private times: number[] = [];

  constructor(private readonly s: CrashLoopSettings) {}

  /**
   * Record that the child needs a restart at `now`. Returns true when this restart would be one
   * more than allowed inside the window (a crash loop: stop everything instead).
   */
  record(now: number): boolean {
    this.times = this.times.filter((t) => now - t < this.s.windowMs);
    if (this.times.length >= this.s.maxRestarts) return true;
    this.times.push(now);
    return false;
  }

  /** Restarts inside the window as of `now`. */
  count(now: number): number {
    return this.times.filter((t) => now - t < this.s.windowMs).length;
  }
}

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/**
 * The supervisor's exit code for a failure caused by a child's exit: the child's own code, or
 * 128+signal, and never 0 (a failure must make Fly's restart policy act).
 */
export function failureExitCode(status: ExitStatus | null): number {
  if (!status) return 1;
  if (status.signal) return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
  if (status.code !== null && status.code !== 0) return status.code;
  return 1;
}

export function describeExit(status: ExitStatus): string {
  return status.signal ? `killed by ${status.signal}` : `exited with code ${status.code}`;
}
