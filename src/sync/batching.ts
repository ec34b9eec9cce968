/**
 * Batching: which outbox entries the next push carries. In `seq` order, at most 200 entries and at
 * most 1 MB of body (sync-v1), and, while an entry is being isolated after the receiver rejected
 * it alone, that entry alone until it is delivered or quarantined.
 */
import type { OutboxEntry, Store } from "../shared/store/index.ts";

/** sync-v1: at most 200 entries per batch. */
export const MAX_BATCH_ENTRIES = 200;
/**
 * sync-v1: at most "1 MB" per batch. We read it as 1,000,000 bytes of request body (the stricter of
 * 10^6 and 2^20), so the batch is within the limit whichever the receiver means.
 */
export const MAX_BATCH_BYTES = 1_000_000;
/**
 * Room left for the envelope (`{"batchId":…,"userId":…,"machineId":…,"entries":[…]}`) when
 * entries are budgeted. The encoded body is measured again before it is sent (runner.ts).
 */
export const ENVELOPE_BYTES = 512;

export interface BatchLimits {
  maxEntries: number;
  maxBytes: number;
}

/** Clamp configured limits to the contract's. */
export function batchLimits(maxEntries?: number, maxBytes?: number): BatchLimits {
  return {
    maxEntries: Math.max(1, Math.min(maxEntries ?? MAX_BATCH_ENTRIES, MAX_BATCH_ENTRIES)),
    maxBytes: Math.max(ENVELOPE_BYTES + 1, Math.min(maxBytes ?? MAX_BATCH_BYTES, MAX_BATCH_BYTES)),
  };
}

/** Halves of a rejected batch, first half first (so `seq` order is kept). */
export function splitHalves<T>(entries: T[]): [T[], T[]] {
  const mid = Math.ceil(entries.length / 2);
  return [entries.slice(0, mid), entries.slice(mid)];
}

export class Batcher {
  /** An entry rejected alone: the next push sends it alone again until it passes or is quarantined. */
  private isolatedSeq: number | null = null;

  constructor(
    private readonly store: Pick<Store, "pendingOutbox">,
    readonly limits: BatchLimits,
  ) {}

  /** The next batch (empty when nothing is pending). */
  next(): OutboxEntry[] {
    const pending = this.store.pendingOutbox(this.limits.maxEntries, this.limits.maxBytes - ENVELOPE_BYTES);
    if (this.isolatedSeq !== null && pending[0]?.seq === this.isolatedSeq) return pending.slice(0, 1);
    this.isolatedSeq = null;
    return pending;
  }

  /** Send `seq` alone from now on (it was rejected alone and not yet quarantined). */
  isolate(seq: number): void {
    this.isolatedSeq = seq;
  }

  /** `seqs` are resolved (delivered or quarantined): stop isolating any of them. */
  resolved(seqs: number[]): void {
    if (this.isolatedSeq !== null && seqs.includes(this.isolatedSeq)) this.isolatedSeq = null;
  }
}
