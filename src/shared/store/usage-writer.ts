/**
 * The usage rows' write queue: rows are kept in memory and written in ONE transaction per flush —
 * when `USAGE_BATCH_ROWS` are queued, or `USAGE_FLUSH_MS` after the first queued row (one unref'd
 * timer per window, not one per row), or when the store reads usage or closes. One row per
 * autocommit transaction cost ≈ 7.5 µs of the AI server's CPU per request; a row in a batch ≈ 2 µs.
 *
 * Nothing is lost silently: a flush that fails (SQLITE_BUSY, disk full…) keeps every row queued,
 * reports the problem and tries again after a backoff; a row the database refuses on its own
 * (a constraint) is reported with its request id and the others are written; the queue is bounded
 * (`USAGE_MAX_PENDING`) and what it drops past that is reported. What a hard kill (SIGKILL, OOM)
 * loses is the last window's rows: each request's wide log line carries the same data.
 */
import type { Database, Statement } from "bun:sqlite";
import { backoffDelay } from "../backoff.ts";

/** Rows that trigger a flush at once. */
export const USAGE_BATCH_ROWS = 64;
/** The longest a queued row waits for its flush (also how late another process sees it). */
export const USAGE_FLUSH_MS = 100;
/** Rows kept while the database refuses writes (≈ 300 bytes each); the oldest go past this. */
export const USAGE_MAX_PENDING = 50_000;
/** Retries of a failed flush: 100 ms doubling to 5 s, so a lock or a full disk is not hammered. */
const RETRY = { baseMs: USAGE_FLUSH_MS, capMs: 5_000, jitter: "equal" } as const;

/** One queued row: the INSERT's parameters, the request id first. */
export type UsageParams = [string, ...(string | number | null)[]];

/**
 * A write problem, for the process's log. `retrying`: the batch was not written, its rows are kept
 * and tried again; `recovered`: written after failures; `rejected`: rows the database refused
 * (the first one's error; not retried; the rest of the batch is written); `dropped`: rows lost
 * (the queue was full, or the store closed with the batch still failing).
 */
export interface UsageWriteProblem {
  kind: "retrying" | "recovered" | "rejected" | "dropped";
  /** The SQLite error (message and code); absent for `recovered`. */
  error?: string;
  code?: string;
  /** How many rows this is about, and (rejected / dropped) their request ids, at most 20. */
  rows: number;
  requestIds?: string[];
  /** Rows still queued after this. */
  pending: number;
  /** Consecutive failed flushes (retrying / recovered). */
  failures?: number;
}

export type UsageProblemReporter = (p: UsageWriteProblem) => void;

/** Without a reporter (tests, tools): one JSON line on stderr, never nothing. */
export const stderrReporter: UsageProblemReporter = (p) => {
  process.stderr.write(`${JSON.stringify({ msg: "usage rows: write problem", ...p })}\n`);
};

const codeOf = (e: unknown): string | undefined =>
  typeof (e as { code?: unknown })?.code === "string" ? (e as { code: string }).code : undefined;
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The row itself is wrong (retrying cannot help), as opposed to the database being unavailable. */
function rowRefused(e: unknown): boolean {
  const code = codeOf(e);
  if (code) return /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code);
  return e instanceof TypeError;
}

const ids = (rows: UsageParams[]): string[] => rows.slice(0, 20).map((r) => r[0]);

export class UsageWriter {
  private queue: UsageParams[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;
  private closed = false;
  /** Writes a batch in one transaction; returns the rows the database refused (not retried). */
  private readonly write: (rows: UsageParams[]) => { row: UsageParams; error: unknown }[];

  constructor(
    db: Database,
    insert: Statement,
    private readonly report: UsageProblemReporter,
  ) {
    // One IMMEDIATE transaction; a refused row is set aside, anything else rolls the batch back.
    const tx = db.transaction((rows: UsageParams[]) => {
      const refused: { row: UsageParams; error: unknown }[] = [];
      for (const row of rows) {
        try {
          insert.run(...row);
        } catch (error) {
          if (!rowRefused(error)) throw error;
          refused.push({ row, error });
        }
      }
      return refused;
    });
    this.write = (rows) => tx.immediate(rows) as { row: UsageParams; error: unknown }[];
  }

  get pending(): number {
    return this.queue.length;
  }

  add(row: UsageParams): void {
    if (this.closed) throw new Error("the store is closed: usage row not recorded");
    this.queue.push(row);
    if (this.queue.length > USAGE_MAX_PENDING) {
      const lost = this.queue.splice(0, this.queue.length - USAGE_MAX_PENDING);
      this.report({
        kind: "dropped",
        error: "usage queue full",
        rows: lost.length,
        requestIds: ids(lost),
        pending: this.queue.length,
      });
    }
    if (this.queue.length >= USAGE_BATCH_ROWS && this.failures === 0) this.flush();
    else this.arm(USAGE_FLUSH_MS);
  }

  /** Write every queued row now; false when the batch failed (its rows are kept and retried). */
  flush(): boolean {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.queue.length === 0 || this.closed) return true;
    const batch = this.queue;
    this.queue = [];
    let refused: { row: UsageParams; error: unknown }[];
    try {
      refused = this.write(batch);
    } catch (e) {
      this.queue = batch.concat(this.queue);
      this.failures++;
      const code = codeOf(e);
      this.report({
        kind: "retrying",
        error: messageOf(e),
        ...(code ? { code } : {}),
        rows: batch.length,
        pending: this.queue.length,
        failures: this.failures,
      });
      this.arm(backoffDelay(this.failures, RETRY));
      return false;
    }
    if (refused.length > 0) {
      const first = refused[0]!.error;
      const code = codeOf(first);
      this.report({
        kind: "rejected",
        error: messageOf(first),
        ...(code ? { code } : {}),
        rows: refused.length,
        requestIds: ids(refused.map((r) => r.row)),
        pending: this.queue.length,
      });
    }
    if (this.failures > 0)
      this.report({
        kind: "recovered",
        rows: batch.length,
        pending: this.queue.length,
        failures: this.failures,
      });
    this.failures = 0;
    return true;
  }

  /** Flush, then refuse further rows; rows a last failed flush could not write are reported lost. */
  close(): void {
    if (this.closed) return;
    if (!this.flush()) {
      const lost = this.queue;
      this.report({
        kind: "dropped",
        error: "the store closed before the usage rows could be written",
        rows: lost.length,
        requestIds: ids(lost),
        pending: 0,
      });
      this.queue = [];
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closed = true;
  }

  private arm(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, ms);
    this.timer.unref?.();
  }
}
