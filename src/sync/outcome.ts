/**
 * Delivery outcomes: what one answer of the receiver does to the outbox, the runner's health and
 * the logs, and what the loop does next. One wide log line per push (`event: "sync_batch"`).
 *
 * - 2xx: entries with `seq ≤ ackedThroughSeq` are marked delivered; nothing acked → back off.
 * - network error, timeout, 408, 429, 5xx, anything unexpected: back off (honouring Retry-After).
 * - 401/403: a configuration fault: one loud error line when it starts, `auth_error`, slow retry.
 * - 400/413: split a batch; an entry rejected alone is retried alone and quarantined after N times.
 */
import type { Logger } from "../shared/log.ts";
import type { OutboxEntry, Store } from "../shared/store/index.ts";
import type { Batcher } from "./batching.ts";
import type { PushOutcome, PushResult } from "./push.ts";
import type { RunState } from "./run-state.ts";

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

/** What the loop does after a send. */
export type Step =
  | { kind: "done" } // every entry resolved (delivered or quarantined): continue at once
  | { kind: "partial" } // some acked, some not: re-read and continue at once
  | { kind: "split" } // rejected as a whole (400/413, or too large to send): send the halves
  | { kind: "wait"; delayMs: number } // back off, then retry
  | { kind: "stopped" };

export interface OutcomeContext {
  store: OutboxStore;
  run: RunState;
  batcher: Batcher;
  log: Logger;
  quarantineAfter: number;
  authRetryMs: number;
}

/** sync-v1 receivers reject a timestamp more than 300 s from their clock. */
export const TIMESTAMP_WINDOW_MS = 300_000;

/** What an operator should check when Convex answers 401/403. */
export function authHint(clockSkewMs: number | undefined): string {
  if (clockSkewMs !== undefined && Math.abs(clockSkewMs) > TIMESTAMP_WINDOW_MS) {
    const s = Math.round(Math.abs(clockSkewMs) / 1000);
    return `this machine's clock is ${s} s ${clockSkewMs > 0 ? "ahead of" : "behind"} Convex (sync-v1 allows ±300 s): fix the clock (NTP)`;
  }
  return "check SYNC_SECRET and CLERK_USER_ID, that this VM is provisioned, and that the machine clock is right (±300 s)";
}

function batchLine(
  entries: OutboxEntry[],
  r: Pick<PushResult, "batchId" | "bytes" | "durationMs">,
  o?: PushOutcome,
) {
  return {
    event: "sync_batch",
    batchId: r.batchId,
    entries: entries.length,
    firstSeq: entries[0]!.seq,
    lastSeq: entries[entries.length - 1]!.seq,
    bytes: r.bytes,
    status: o && "status" in o ? (o.status ?? null) : null,
    durationMs: r.durationMs,
  };
}

/** Apply one answer to `entries` (the batch that was sent, in seq order). */
export function handleOutcome(ctx: OutcomeContext, entries: OutboxEntry[], r: PushResult): Step {
  const o = r.outcome;
  const line = batchLine(entries, r, o);
  const { run, log } = ctx;
  switch (o.kind) {
    case "ok": {
      const acked = entries.filter((e) => e.seq <= o.ackedThroughSeq).map((e) => e.seq);
      ctx.store.markDelivered(acked);
      if (acked.length === 0) {
        const delayMs = run.fail("backing_off", {
          message: `receiver acked nothing (ackedThroughSeq ${o.ackedThroughSeq})`,
          status: o.status,
        });
        log.warn(
          { ...line, outcome: "unacked", ackedThroughSeq: o.ackedThroughSeq, nextDelayMs: delayMs },
          "sync batch not acknowledged",
        );
        return { kind: "wait", delayMs };
      }
      if (run.state === "auth_error")
        log.info({ event: "sync_auth_recovered" }, "Convex accepts the sync credentials again");
      run.succeed();
      ctx.batcher.resolved(acked);
      const complete = acked.length === entries.length;
      log.info(
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
      const delayMs = run.fail(
        "backing_off",
        { message: o.message, ...(o.status ? { status: o.status } : {}) },
        o.retryAfterMs,
      );
      log.warn(
        { ...line, outcome: "retry", error: o.message, retryAfterMs: o.retryAfterMs, nextDelayMs: delayMs },
        "sync batch failed; will retry",
      );
      return { kind: "wait", delayMs };
    }
    case "auth": {
      const hint = authHint(o.clockSkewMs);
      if (run.state !== "auth_error") {
        log.error(
          {
            event: "sync_auth_error",
            status: o.status,
            error: o.message,
            clockSkewMs: o.clockSkewMs ?? null,
            retryEveryMs: ctx.authRetryMs,
          },
          `Convex rejected the sync push with ${o.status}: ${hint}; retrying every ${Math.round(ctx.authRetryMs / 1000)} s`,
        );
      }
      run.failures++;
      run.note({ message: o.message, status: o.status, hint });
      run.set("auth_error");
      log.warn({ ...line, outcome: "auth_error", nextDelayMs: ctx.authRetryMs }, "sync batch unauthorized");
      return { kind: "wait", delayMs: ctx.authRetryMs };
    }
    case "reject": {
      if (entries.length > 1) {
        log.warn(
          { ...line, outcome: "split", error: o.message, nextDelayMs: 0 },
          "sync batch rejected; splitting",
        );
        return { kind: "split" };
      }
      const first = entries[0]!;
      const attempts = ctx.store.recordOutboxFailure(first.seq, o.message);
      if (attempts >= ctx.quarantineAfter) {
        quarantine(ctx, first, o.message, o.status, { ...line, attempts }, "rejected too often");
        return { kind: "done" };
      }
      ctx.batcher.isolate(first.seq);
      const delayMs = run.fail("backing_off", { message: o.message, status: o.status });
      log.warn(
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
      log.warn(
        { ...line, outcome: "aborted", nextDelayMs: null },
        "sync batch abandoned by shutdown (not acknowledged)",
      );
      return { kind: "stopped" };
  }
}

/**
 * A batch whose encoded body is over the byte limit (only possible with an unusually long user or
 * machine id, or one entry larger than the limit on its own): split it without sending; an entry
 * too large alone can never be accepted, so it is quarantined at once (kept, counted, shown).
 */
export function handleOversized(
  ctx: OutcomeContext,
  entries: OutboxEntry[],
  r: Pick<PushResult, "batchId" | "bytes">,
  maxBytes: number,
): Step {
  const line = batchLine(entries, { ...r, durationMs: 0 }); // status: null (nothing was sent)
  const message = `batch body of ${r.bytes} bytes exceeds the sync-v1 limit of ${maxBytes} bytes`;
  if (entries.length > 1) {
    ctx.log.warn(
      { ...line, outcome: "split", error: message, nextDelayMs: 0 },
      "sync batch too large; splitting",
    );
    return { kind: "split" };
  }
  const first = entries[0]!;
  const attempts = ctx.store.recordOutboxFailure(first.seq, message);
  quarantine(
    ctx,
    first,
    `entry too large to sync: ${message}`,
    undefined,
    { ...line, attempts },
    "too large",
  );
  return { kind: "done" };
}

function quarantine(
  ctx: OutcomeContext,
  entry: OutboxEntry,
  reason: string,
  status: number | undefined,
  line: Record<string, unknown>,
  why: string,
): void {
  ctx.store.quarantine(entry.seq, reason);
  ctx.batcher.resolved([entry.seq]);
  ctx.run.note({ message: `entry ${entry.id} quarantined: ${reason}`, ...(status ? { status } : {}) });
  ctx.log.warn(
    { ...line, outcome: "quarantined", messageId: entry.id, error: reason, nextDelayMs: 0 },
    `sync entry ${why}; quarantined (kept locally, not retried)`,
  );
}
