/**
 * Waking up: the idle wait that returns
 * as soon as another connection (the gateway) commits to the store, noticed through
 * `PRAGMA data_version`, which changes only on other connections' commits and costs microseconds.
 */
import type { Store } from "../shared/store/index.ts";

/** Wait `ms`, or less if `signal` aborts (backoff waits end at once on stop); never rejects. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<unknown>;

export interface WakeOptions {
  store: Pick<Store, "dataVersion">;
  sleep: Sleep;
  /** Aborted by stop: the wait returns at once. */
  signal: AbortSignal;
  /** How often the idle worker looks at data_version. */
  pollIntervalMs: number;
  /** Return after this long whatever data_version says (a safety net re-read of the outbox). */
  recheckMs: number;
}

/**
 * Idle: return when another connection committed since `version` was read, on stop, or after
 * `recheckMs`. Read `version` BEFORE reading the outbox, so a commit in between is not missed.
 */
export async function waitForWork(o: WakeOptions, version: number): Promise<void> {
  const until = performance.now() + o.recheckMs;
  while (!o.signal.aborted) {
    await o.sleep(o.pollIntervalMs, o.signal);
    if (o.store.dataVersion() !== version || performance.now() >= until) return;
  }
}
