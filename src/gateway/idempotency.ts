/**
 * The idempotency cache of chat.send: a repeated idempotency key answers with the first run's id
 * and status instead of starting a new run. Entries live until 5 min (by default) after their run
 * ended; behind them the store answers too, since the run id is the idempotency key.
 */
import type { Store } from "../shared/store/index.ts";
import type { RunOutcome } from "./chat-run.ts";

export type RunStatus = "in_flight" | "ok" | "error" | "aborted";

interface IdempotencyEntry {
  runId: string;
  sessionId: string;
  status: RunStatus;
  endedAt?: number;
}

export class IdempotencyCache {
  private readonly entries = new Map<string, IdempotencyEntry>();

  constructor(
    private readonly store: Store,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  /** The answer for a key already used (sweeping expired entries first), or undefined. */
  lookup(key: string): { runId: string; status: RunStatus } | undefined {
    this.sweep();
    const dup = this.entries.get(key);
    if (dup) return { runId: dup.runId, status: dup.status };
    const stored = this.store.getRun(key);
    if (stored) {
      // Survives a restart: the run id is the idempotency key.
      const status =
        stored.state === "final"
          ? "ok"
          : stored.state === "running"
            ? "in_flight"
            : stored.state === "aborted"
              ? "aborted"
              : "error";
      return { runId: stored.runId, status };
    }
    return undefined;
  }

  started(runId: string, sessionId: string): void {
    this.entries.set(runId, { runId, sessionId, status: "in_flight" });
  }

  ended(runId: string, outcome: RunOutcome): void {
    const entry = this.entries.get(runId);
    if (entry) {
      entry.status = outcome === "final" ? "ok" : outcome === "aborted" ? "aborted" : "error";
      entry.endedAt = this.now();
    }
  }

  /** The session of a run still in the cache. */
  sessionOf(runId: string): string | undefined {
    return this.entries.get(runId)?.sessionId;
  }

  private sweep(): void {
    const cutoff = this.now() - this.ttlMs;
    for (const [k, v] of this.entries) {
      if (v.endedAt !== undefined && v.endedAt < cutoff) this.entries.delete(k);
    }
  }
}
