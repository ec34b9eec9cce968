/** Sync worker variables (sync-v1). Without Convex configuration the worker runs disabled. */
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
    SYNC_BATCH_MAX_ENTRIES: envVar(positiveInt(200), {
      doc: "Most entries per push (contract maximum 200).",
      fix: "set SYNC_BATCH_MAX_ENTRIES to 1–200",
    }),
    SYNC_QUARANTINE_AFTER: envVar(positiveInt(5), {
      doc: "Times an entry may be rejected alone (400/413) before it is quarantined (kept, reported, not retried).",
      fix: "set SYNC_QUARANTINE_AFTER to a whole number, e.g. 5",
    }),
    SYNC_REQUEST_TIMEOUT_MS: envVar(positiveInt(30_000), {
      doc: "Timeout of one push request.",
      fix: "set SYNC_REQUEST_TIMEOUT_MS to milliseconds, e.g. 30000",
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
      message: "is required because other sync variables are set (sync needs CONVEX_URL, CLERK_USER_ID and SYNC_SECRET together)",
      fix: `set ${variable}, or unset all three to run the sync worker disabled`,
    }));
  },
);
