/**
 * Supervisor (`pipbot start`) variables: readiness, restart policy, crash-loop bound, shutdown
 * budget. The bind variables of the three processes are read here too (same names, same defaults)
 * because the supervisor polls their health endpoints.
 */
import { z } from "zod";
import { commonVars } from "./common.ts";
import { defineEnv, envVar, host, port, positiveInt } from "./env.ts";

/** A process's bind address, read by the supervisor to reach its health endpoint. */
function readinessHost(what: string, fix: string) {
  return envVar(host("127.0.0.1"), {
    doc: `Readiness: ${what}'s bind address (a wildcard bind is polled on 127.0.0.1).`,
    fix,
  });
}

function readinessPort(what: string, name: string, def: number) {
  return envVar(port(def), {
    doc: `Readiness: ${what}'s port (GET /healthz).`,
    fix: `set ${name} to a TCP port, e.g. ${def}`,
  });
}

export const supervisorEnv = defineEnv("supervisor", {
  ...commonVars,
  SUPERVISOR_READY_TIMEOUT_MS: envVar(positiveInt(20_000), {
    doc: "How long each process may take to report ready before startup fails.",
    fix: "set SUPERVISOR_READY_TIMEOUT_MS to milliseconds, e.g. 20000",
  }),
  SUPERVISOR_READY_UPTIME_MS: envVar(positiveInt(500), {
    doc: "A Procfile process without a known health endpoint counts as ready once it has stayed up this long.",
    fix: "set SUPERVISOR_READY_UPTIME_MS to milliseconds, e.g. 500",
  }),
  SUPERVISOR_BACKOFF_INITIAL_MS: envVar(positiveInt(100), {
    doc: "First restart delay; doubles on each crash.",
    fix: "set SUPERVISOR_BACKOFF_INITIAL_MS to milliseconds, e.g. 100",
  }),
  SUPERVISOR_BACKOFF_MAX_MS: envVar(positiveInt(10_000), {
    doc: "Restart delay cap.",
    fix: "set SUPERVISOR_BACKOFF_MAX_MS to milliseconds, e.g. 10000",
  }),
  SUPERVISOR_STABLE_MS: envVar(positiveInt(30_000), {
    doc: "Uptime after which a child's backoff resets.",
    fix: "set SUPERVISOR_STABLE_MS to milliseconds, e.g. 30000",
  }),
  SUPERVISOR_CRASH_LOOP_RESTARTS: envVar(positiveInt(5), {
    doc: "More than this many restarts of one process within the window is a crash loop: everything stops, exit non-zero.",
    fix: "set SUPERVISOR_CRASH_LOOP_RESTARTS to a whole number, e.g. 5",
  }),
  SUPERVISOR_CRASH_LOOP_WINDOW_MS: envVar(positiveInt(60_000), {
    doc: "Crash-loop window.",
    fix: "set SUPERVISOR_CRASH_LOOP_WINDOW_MS to milliseconds, e.g. 60000",
  }),
  SUPERVISOR_SHUTDOWN_BUDGET_MS: envVar(positiveInt(25_000), {
    doc: "Total time for a graceful stop of all processes (keep below Fly's kill_timeout, 30 s in our configs).",
    fix: "set SUPERVISOR_SHUTDOWN_BUDGET_MS to milliseconds below kill_timeout, e.g. 25000",
  }),
  SUPERVISOR_GRACE_MS: envVar(positiveInt(8_000), {
    doc: "Per-process grace between SIGTERM and SIGKILL (bounded by what is left of the budget).",
    fix: "set SUPERVISOR_GRACE_MS to milliseconds, e.g. 8000",
  }),
  PROCFILE: envVar(z.string().default("Procfile"), {
    doc: "Path of the Procfile the supervisor runs (`--procfile` wins). Children run in its directory.",
    fix: "set PROCFILE to the path of an existing Procfile",
  }),
  AI_HOST: readinessHost("the AI server", "set AI_HOST to 127.0.0.1 or ::"),
  AI_PORT: readinessPort("the AI server", "AI_PORT", 3000),
  SYNC_STATUS_PORT: envVar(port(18790), {
    doc: "Readiness: the sync worker's loopback status port (GET /healthz).",
    fix: "set SYNC_STATUS_PORT to a TCP port, e.g. 18790",
  }),
  GATEWAY_HOST: readinessHost("the gateway", "set GATEWAY_HOST to 127.0.0.1, 0.0.0.0 or ::"),
  GATEWAY_PORT: readinessPort("the gateway", "GATEWAY_PORT", 18789),
});
