/**
 * The sync loop: read the next batch of the outbox (batching.ts), push it (push.ts), apply the
 * answer (outcome.ts: ack, back off, split, quarantine), and when nothing is pending wait for the
 * gateway's next commit (wake.ts). One batch in flight, in seq order. Everything it touches is
 * injected (store, fetch, clocks, sleep, random) so tests drive it against a real SQLite file and
 * the real fake receiver without a child process.
 */

import { abortableSleep } from "../shared/backoff.ts";
import type { Logger } from "../shared/log.ts";
import type { OutboxEntry } from "../shared/store/index.ts";
import { SYNC_BACKOFF, type SyncBackoff } from "./backoff.ts";
import { Batcher, batchLimits, splitHalves } from "./batching.ts";
import {
  handleOutcome,
  handleOversized,
  type OutboxStore,
  type OutcomeContext,
  type Step,
} from "./outcome.ts";
import { encodeBatch, type PushTarget, postBatch } from "./push.ts";
import { RunState } from "./run-state.ts";
import { buildStatus, type StatusSource, type SyncStatus } from "./status.ts";
import { type Sleep, waitForWork } from "./wake.ts";

export type { OutboxStore } from "./outcome.ts";
export type { Sleep } from "./wake.ts";

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
  /** At most this many body bytes per push (sync-v1: 1 MB, read as 1,000,000). */
  maxBytes?: number;
  /** Quarantine an entry after it was rejected alone (400/413) this many times. */
  quarantineAfter?: number;
  backoff?: SyncBackoff;
  /** Retry interval while Convex rejects our credentials (401/403). */
  authRetryMs?: number;
  /** How often an idle runner looks at PRAGMA data_version for new rows. */
  pollIntervalMs?: number;
  /** An idle runner re-reads the outbox at least this often, whatever data_version says. */
  recheckMs?: number;
}

export class SyncRunner implements StatusSource {
  private readonly run: RunState;
  private readonly batcher: Batcher;
  private readonly ctx: OutcomeContext;
  private stopping = false;
  /** Aborted on stop: no new push, sleeps end. */
  private readonly stopCtl = new AbortController();
  /** Aborted after the grace period (or a second signal): the in-flight push is abandoned. */
  private readonly abortCtl = new AbortController();
  private loopDone: Promise<void> | null = null;

  private readonly store: OutboxStore;
  private readonly target: PushTarget;
  private readonly log: Logger;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  private readonly sleep: Sleep;
  private readonly pollIntervalMs: number;
  private readonly recheckMs: number;

  constructor(o: RunnerOptions) {
    this.store = o.store;
    this.target = o.target;
    this.log = o.logger;
    this.fetchFn = o.fetch ?? fetch;
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? abortableSleep;
    this.pollIntervalMs = o.pollIntervalMs ?? 25;
    this.recheckMs = o.recheckMs ?? 1_000;
    this.run = new RunState(this.log, this.now, o.backoff ?? SYNC_BACKOFF, o.random ?? Math.random);
    this.batcher = new Batcher(this.store, batchLimits(o.maxEntries, o.maxBytes));
    this.ctx = {
      store: this.store,
      run: this.run,
      batcher: this.batcher,
      log: this.log,
      quarantineAfter: o.quarantineAfter ?? 5,
      authRetryMs: o.authRetryMs ?? 60_000,
    };
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
    const { state, lastSuccessAt, lastError } = this.run;
    return buildStatus({ state, lastSuccessAt, lastError }, this.store.outboxStats(), this.now());
  }

  quarantined() {
    return this.store.quarantinedEntries();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let step: Step;
      try {
        // data_version BEFORE the outbox, so a commit in between is noticed by the idle wait.
        const version = this.store.dataVersion();
        const batch = this.batcher.next();
        if (batch.length === 0) {
          this.run.set("idle");
          await waitForWork(
            {
              store: this.store,
              sleep: this.sleep,
              signal: this.stopCtl.signal,
              pollIntervalMs: this.pollIntervalMs,
              recheckMs: this.recheckMs,
            },
            version,
          );
          continue;
        }
        if (this.run.state === "idle") this.run.set("syncing");
        step = await this.send(batch);
      } catch (e) {
        // The store failed (e.g. locked beyond the busy timeout): nothing was acked; back off.
        const delayMs = this.run.fail("backing_off", { message: `store error: ${(e as Error).message}` });
        this.log.error({ err: e, nextDelayMs: delayMs }, "sync store error");
        step = { kind: "wait", delayMs };
      }
      if (step.kind === "wait") await this.sleep(step.delayMs, this.stopCtl.signal);
    }
  }

  /** Push `entries` (one request in flight); a rejected batch is sent as halves, first half first. */
  private async send(entries: OutboxEntry[]): Promise<Step> {
    if (this.stopping) return { kind: "stopped" };
    const batch = encodeBatch(entries, this.target);
    const { maxBytes } = this.batcher.limits;
    const step =
      batch.bytes > maxBytes
        ? handleOversized(this.ctx, entries, batch, maxBytes)
        : handleOutcome(
            this.ctx,
            entries,
            await postBatch(batch, this.target, {
              fetch: this.fetchFn,
              now: this.now,
              signal: this.abortCtl.signal,
            }),
          );
    if (step.kind !== "split") return step;
    const [head, tail] = splitHalves(entries);
    const first = await this.send(head);
    if (first.kind !== "done") return first;
    return this.send(tail);
  }
}
