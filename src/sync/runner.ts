/**
 * The sync loop: read the outbox in seq order, push one batch at a time, ack on 2xx, back off on
 * failures, split on 400/413, quarantine an entry rejected alone N times, and sleep until new rows
 * appear. Everything it touches is injected (store, fetch, clocks, sleep, random) so tests drive it
 * against a real SQLite file and a real fake receiver without a child process.
 */
import type { Logger } from "../shared/log.ts";
import type { OutboxEntry, Store } from "../shared/store/index.ts";
import { type BackoffPolicy, DEFAULT_BACKOFF, retryDelay } from "./backoff.ts";
import { type PushTarget, pushBatch } from "./push.ts";
import { buildStatus, type LastError, type StatusSource, type SyncState, type SyncStatus } from "./status.ts";

/** The store methods the runner uses (a real Store in production and tests). */
export type OutboxStore = Pick<
  Store,
  | "pendingOutbox"
  | "markDelivered"
  | "recordOutboxFailure"
  | "quarantine"
  | "quarantinedEntries"
  | "outboxStats"
  | "dataVersion"
>;

export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export interface RunnerOptions {
  store: OutboxStore;
  target: PushTarget;
  logger: Logger;
  fetch?: typeof fetch;
  /** Wall clock (epoch ms): signing timestamps and status. */
  now?: () => number;
  /** Wait `ms` or until `signal` aborts (stop). */
  sleep?: Sleep;
  random?: () => number;
  /** At most this many entries per push (sync-v1: 200). */
  maxEntries?: number;
  /** At most this many body bytes per push (sync-v1: 1 MB). */
  maxBytes?: number;
  /** Quarantine an entry after it was rejected alone (400/413) this many times. */
  quarantineAfter?: number;
  backoff?: BackoffPolicy;
  /** Retry interval while Convex rejects our credentials (401/403). */
  authRetryMs?: number;
  /** How often an idle runner looks at PRAGMA data_version for new rows. */
  pollIntervalMs?: number;
  /** An idle runner re-reads the outbox at least this often, whatever data_version says. */
  recheckMs?: number;
}

/** What happened to the entries of one send, and what the loop does next. */
type Step =
  | { kind: "done" } // every entry resolved (delivered or quarantined): continue at once
  | { kind: "partial" } // some acked, some not: re-read and continue at once
  | { kind: "wait"; delayMs: number } // back off, then retry
  | { kind: "stopped" };

export const abortableSleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });

/** JSON bodies stay under maxBytes even with the envelope (batchId, userId, machineId). */
const ENVELOPE_BYTES = 512;

export class SyncRunner implements StatusSource {
  private state: SyncState = "idle";
  private lastSuccessAt: number | null = null;
  private lastError: LastError | null = null;
  private failures = 0;
  /** An entry rejected alone: the next push sends it alone again until it passes or is quarantined. */
  private isolateSeq: number | null = null;
  private stopping = false;
  private readonly stopCtl = new AbortController();
  private readonly abortCtl = new AbortController();
  private loopDone: Promise<void> | null = null;

  private readonly store: OutboxStore;
  private readonly target: PushTarget;
  private readonly log: Logger;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly quarantineAfter: number;
  private readonly backoff: BackoffPolicy;
  private readonly authRetryMs: number;
  private readonly pollIntervalMs: number;
  private readonly recheckMs: number;

  constructor(o: RunnerOptions) {
    this.store = o.store;
    this.target = o.target;
    this.log = o.logger;
    this.fetchFn = o.fetch ?? fetch;
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? abortableSleep;
    this.random = o.random ?? Math.random;
    this.maxEntries = Math.min(o.maxEntries ?? 200, 200);
    this.maxBytes = Math.min(o.maxBytes ?? 1024 * 1024, 1024 * 1024);
    this.quarantineAfter = o.quarantineAfter ?? 5;
    this.backoff = o.backoff ?? DEFAULT_BACKOFF;
    this.authRetryMs = o.authRetryMs ?? 60_000;
    this.pollIntervalMs = o.pollIntervalMs ?? 25;
    this.recheckMs = o.recheckMs ?? 1_000;
  }

  /** Start the loop (idempotent). The promise resolves when the loop has stopped. */
  start(): Promise<void> {
    this.loopDone ??= this.loop().catch((e) => {
      this.log.fatal({ err: e }, "sync loop crashed");
      throw e;
    });
    return this.loopDone;
  }

  /**
   * Stop: no new push starts; an in-flight push may finish within `graceMs`, then it is aborted
   * (and nothing it carried is marked delivered).
   */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    this.stopCtl.abort();
    if (!this.loopDone) return;
    const timer = setTimeout(() => this.abortCtl.abort(), graceMs);
    try {
      await this.loopDone;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Abort the in-flight push now (a second SIGTERM). */
  abortNow(): void {
    this.stopping = true;
    this.stopCtl.abort();
    this.abortCtl.abort();
  }

  status(): SyncStatus {
    return buildStatus(
      { state: this.state, lastSuccessAt: this.lastSuccessAt, lastError: this.lastError },
      this.store.outboxStats(),
      this.now(),
    );
  }

  quarantined() {
    return this.store.quarantinedEntries();
  }

  // ---- the loop ---------------------------------------------------------------------------------

  private async loop(): Promise<void> {
    while (!this.stopping) {
      // Read data_version BEFORE the outbox, so a commit in between is noticed by the idle wait.
      let step: Step;
      try {
        const version = this.store.dataVersion();
        const batch = this.nextBatch();
        if (batch.length === 0) {
          this.setState("idle");
          await this.waitForWork(version);
          continue;
        }
        if (this.state === "idle") this.setState("syncing");
        step = await this.send(batch);
      } catch (e) {
        // The store failed (e.g. locked beyond the busy timeout): nothing was acked; back off.
        this.failures++;
        const delayMs = retryDelay(this.failures, this.backoff, undefined, this.random);
        this.lastError = { at: this.now(), message: `store error: ${(e as Error).message}` };
        this.setState("backing_off");
        this.log.error({ err: e, nextDelayMs: delayMs }, "sync store error");
        step = { kind: "wait", delayMs };
      }
      if (step.kind === "wait") await this.sleep(step.delayMs, this.stopCtl.signal);
    }
  }

  private nextBatch(): OutboxEntry[] {
    const pending = this.store.pendingOutbox(this.maxEntries, this.maxBytes - ENVELOPE_BYTES);
    if (this.isolateSeq !== null && pending[0]?.seq === this.isolateSeq) return pending.slice(0, 1);
    this.isolateSeq = null;
    return pending;
  }

  /** Idle: return when another connection committed, on stop, or after recheckMs. */
  private async waitForWork(version: number): Promise<void> {
    const until = performance.now() + this.recheckMs;
    while (!this.stopping) {
      await this.sleep(this.pollIntervalMs, this.stopCtl.signal);
      if (this.store.dataVersion() !== version || performance.now() >= until) return;
    }
  }

  private setState(next: SyncState): void {
    if (next === this.state) return;
    const prev = this.state;
    this.state = next;
    // idle ⇄ syncing happens on every chat turn: debug. Entering or leaving a failure state: info.
    const routine = (prev === "idle" || prev === "syncing") && (next === "idle" || next === "syncing");
    const level = routine ? "debug" : "info";
    this.log[level]({ event: "sync_state", from: prev, to: next }, `sync state ${prev} → ${next}`);
  }

  /** Push `entries`; on 400/413 split them in halves (first half first, to keep seq order). */
  private async send(entries: OutboxEntry[]): Promise<Step> {
    if (this.stopping) return { kind: "stopped" };
    const r = await pushBatch(entries, this.target, {
      fetch: this.fetchFn,
      now: this.now,
      signal: this.abortCtl.signal,
    });
    const o = r.outcome;
    const first = entries[0]!;
    const last = entries[entries.length - 1]!;
    const line = {
      event: "sync_batch",
      batchId: r.batchId,
      entries: entries.length,
      firstSeq: first.seq,
      lastSeq: last.seq,
      bytes: r.bytes,
      status: "status" in o ? (o.status ?? null) : null,
      durationMs: r.durationMs,
    };

    switch (o.kind) {
      case "ok": {
        const acked = entries.filter((e) => e.seq <= o.ackedThroughSeq).map((e) => e.seq);
        this.store.markDelivered(acked);
        if (acked.length === 0) {
          const delayMs = this.fail("backing_off", {
            message: `receiver acked nothing (ackedThroughSeq ${o.ackedThroughSeq})`,
            status: o.status,
          });
          this.log.warn(
            { ...line, outcome: "unacked", ackedThroughSeq: o.ackedThroughSeq, nextDelayMs: delayMs },
            "sync batch not acknowledged",
          );
          return { kind: "wait", delayMs };
        }
        if (this.state === "auth_error")
          this.log.info({ event: "sync_auth_recovered" }, "Convex accepts the sync credentials again");
        this.failures = 0;
        this.lastSuccessAt = this.now();
        this.setState("syncing");
        const complete = acked.length === entries.length;
        if (acked.includes(this.isolateSeq ?? -1)) this.isolateSeq = null;
        this.log.info(
          {
            ...line,
            outcome: complete ? "delivered" : "partial",
            acked: acked.length,
            ackedThroughSeq: o.ackedThroughSeq,
            inserted: o.inserted,
            duplicates: o.duplicates,
            nextDelayMs: 0,
          },
          complete ? "sync batch delivered" : "sync batch partly acknowledged",
        );
        return complete ? { kind: "done" } : { kind: "partial" };
      }
      case "retry": {
        const delayMs = this.fail(
          "backing_off",
          { message: o.message, ...(o.status ? { status: o.status } : {}) },
          o.retryAfterMs,
        );
        this.log.warn(
          { ...line, outcome: "retry", error: o.message, retryAfterMs: o.retryAfterMs, nextDelayMs: delayMs },
          "sync batch failed; will retry",
        );
        return { kind: "wait", delayMs };
      }
      case "auth": {
        if (this.state !== "auth_error") {
          this.log.error(
            { event: "sync_auth_error", status: o.status, error: o.message, retryEveryMs: this.authRetryMs },
            `Convex rejected the sync push with ${o.status}: check SYNC_SECRET and CLERK_USER_ID, that this VM is provisioned, and that the machine clock is right (±300 s); retrying every ${Math.round(this.authRetryMs / 1000)} s`,
          );
        }
        this.failures++;
        this.lastError = { at: this.now(), message: o.message, status: o.status };
        this.setState("auth_error");
        this.log.warn(
          { ...line, outcome: "auth_error", nextDelayMs: this.authRetryMs },
          "sync batch unauthorized",
        );
        return { kind: "wait", delayMs: this.authRetryMs };
      }
      case "reject": {
        if (entries.length > 1) {
          this.log.warn(
            { ...line, outcome: "split", error: o.message, nextDelayMs: 0 },
            "sync batch rejected; splitting",
          );
          const mid = Math.ceil(entries.length / 2);
          const head = await this.send(entries.slice(0, mid));
          if (head.kind !== "done") return head;
          return this.send(entries.slice(mid));
        }
        const attempts = this.store.recordOutboxFailure(first.seq, o.message);
        if (attempts >= this.quarantineAfter) {
          this.store.quarantine(first.seq, o.message);
          this.isolateSeq = null;
          this.lastError = {
            at: this.now(),
            message: `entry ${first.id} quarantined: ${o.message}`,
            status: o.status,
          };
          this.log.warn(
            {
              ...line,
              outcome: "quarantined",
              messageId: first.id,
              attempts,
              error: o.message,
              nextDelayMs: 0,
            },
            "sync entry rejected too often; quarantined (kept locally, not retried)",
          );
          return { kind: "done" };
        }
        this.isolateSeq = first.seq;
        const delayMs = this.fail("backing_off", { message: o.message, status: o.status });
        this.log.warn(
          {
            ...line,
            outcome: "rejected",
            messageId: first.id,
            attempts,
            error: o.message,
            nextDelayMs: delayMs,
          },
          "sync entry rejected; will retry it alone",
        );
        return { kind: "wait", delayMs };
      }
      case "aborted":
        this.log.warn(
          { ...line, outcome: "aborted", nextDelayMs: null },
          "sync batch abandoned by shutdown (not acknowledged)",
        );
        return { kind: "stopped" };
    }
  }

  /** Count a failure, record it for status, and return the backoff delay. */
  private fail(state: SyncState, err: Omit<LastError, "at">, retryAfterMs?: number): number {
    this.failures++;
    this.lastError = { at: this.now(), ...err };
    this.setState(state);
    return retryDelay(this.failures, this.backoff, retryAfterMs, this.random);
  }
}
