/** Sync worker variables (sync-v1). Without Convex configuration the worker runs disabled. */
import { z } from "zod";
import { commonVars, convexVars } from "./common.ts";
import { defineEnv, envVar, port, positiveInt } from "./env.ts";

export const syncEnv = defineEnv(
  "sync",
  {
    ...commonVars,
    ...convexVars,
    SYNC_STATUS_PORT: envVar(port(18790), {
      doc: "Loopback port of the sync worker's status endpoint (/healthz, /status).",
      fix: "set SYNC_STATUS_PORT to a free TCP port, e.g. 18790",
    }),
    SYNC_BATCH_MAX_ENTRIES: envVar(
      z.coerce
        .number({ message: "must be a whole number from 1 to 200" })
        .int("must be a whole number from 1 to 200")
        .min(1, "must be a whole number from 1 to 200")
        .max(200, "must be at most 200 (the sync-v1 batch limit)")
        .default(200),
      {
        doc: "Most entries per push (contract maximum 200).",
        fix: "set SYNC_BATCH_MAX_ENTRIES to 1–200",
      },
    ),
    SYNC_QUARANTINE_AFTER: envVar(positiveInt(5), {
      doc: "Times an entry may be rejected alone (400/413) before it is quarantined (kept, reported, not retried).",
      fix: "set SYNC_QUARANTINE_AFTER to a whole number, e.g. 5",
    }),
    SYNC_REQUEST_TIMEOUT_MS: envVar(positiveInt(30_000), {
      doc: "Timeout of one push request.",
      fix: "set SYNC_REQUEST_TIMEOUT_MS to milliseconds, e.g. 30000",
    }),
    SYNC_BACKOFF_BASE_MS: envVar(positiveInt(1_000), {
      doc: "First retry window after a failed push (full-jitter exponential backoff; sync-v1: 1000).",
      fix: "set SYNC_BACKOFF_BASE_MS to milliseconds, e.g. 1000",
    }),
    SYNC_BACKOFF_CAP_MS: envVar(positiveInt(300_000), {
      doc: "Largest retry window (sync-v1: 300000 = 5 min). A server's Retry-After still wins when longer.",
      fix: "set SYNC_BACKOFF_CAP_MS to milliseconds, e.g. 300000",
    }),
    SYNC_AUTH_RETRY_MS: envVar(positiveInt(60_000), {
      doc: "Retry interval while Convex answers 401/403 (a configuration fault).",
      fix: "set SYNC_AUTH_RETRY_MS to milliseconds, e.g. 60000",
    }),
    SYNC_POLL_INTERVAL_MS: envVar(positiveInt(25), {
      doc: "How often the idle worker checks the store for new messages (PRAGMA data_version; microseconds each).",
      fix: "set SYNC_POLL_INTERVAL_MS to milliseconds, e.g. 25",
    }),
    SYNC_SHUTDOWN_GRACE_MS: envVar(positiveInt(5_000), {
      doc: "On SIGTERM/SIGINT, how long an in-flight push may finish before it is aborted (nothing unacknowledged is marked).",
      fix: "set SYNC_SHUTDOWN_GRACE_MS to milliseconds, e.g. 5000",
    }),
  },
  (v) => {
    const set = [v.CONVEX_URL ?? v.CONVEX_SITE_URL, v.CLERK_USER_ID, v.SYNC_SECRET].filter(Boolean).length;
    if (set === 0 || set === 3) return [];
    const missing = [
      !(v.CONVEX_URL ?? v.CONVEX_SITE_URL) && "CONVEX_URL",
      !v.CLERK_USER_ID && "CLERK_USER_ID",
      !v.SYNC_SECRET && "SYNC_SECRET",
    ].filter((x): x is string => Boolean(x));
    return missing.map((variable) => ({
      variable,
      message:
        "is required because other sync variables are set (sync needs CONVEX_URL, CLERK_USER_ID and SYNC_SECRET together)",
      fix: `set ${variable}, or unset all three to run the sync worker disabled`,
    }));
  },
);
