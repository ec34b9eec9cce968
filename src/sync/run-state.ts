/**
 * The runner's health as `/status` reports it: the state, the consecutive failure count that drives
 * the backoff, the last success and the last error. State changes are logged (routine idle ⇄
 * syncing at debug, into or out of a failure state at info).
 */
import type { Logger } from "../shared/log.ts";
import { retryDelay, type SyncBackoff } from "./backoff.ts";
import type { LastError, SyncState } from "./status.ts";

export class RunState {
  state: SyncState = "idle";
  lastSuccessAt: number | null = null;
  lastError: LastError | null = null;
  /** Consecutive failed sends (reset by a success): the backoff exponent. */
  failures = 0;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly backoff: SyncBackoff,
    private readonly random: () => number,
  ) {}

  set(next: SyncState): void {
    if (next === this.state) return;
    const prev = this.state;
    this.state = next;
    const routine = (prev === "idle" || prev === "syncing") && (next === "idle" || next === "syncing");
    const level = routine ? "debug" : "info";
    this.log[level]({ event: "sync_state", from: prev, to: next }, `sync state ${prev} → ${next}`);
  }

  /** Count a failure, record it for status, enter `next`; returns the jittered backoff delay. */
  fail(next: SyncState, err: Omit<LastError, "at">, retryAfterMs?: number): number {
    this.failures++;
    this.lastError = { at: this.now(), ...err };
    this.set(next);
    return retryDelay(this.failures, this.backoff, retryAfterMs, this.random);
  }

  /** Record an error for status without counting a failed send (e.g. a local quarantine). */
  note(err: Omit<LastError, "at">): void {
    this.lastError = { at: this.now(), ...err };
  }

  /** Something was acknowledged. */
  succeed(): void {
    this.failures = 0;
    this.lastSuccessAt = this.now();
    this.set("syncing");
  }
}
