/**
 * `pipbot sync`: the sync worker process. The only file of the worker that reads the environment,
 * serves HTTP (the loopback status server) and installs signal handlers; the loop is runner.ts.
 */
import { parseCommandArgs } from "../shared/cli-args.ts";
import {
  convexSiteUrl,
  loadConfigOrExit,
  type SyncConfig,
  secretValues,
  syncEnv,
} from "../shared/config/index.ts";
import { identity } from "../shared/identity.ts";
import { INSTANCE_VAR, withInstanceHeader } from "../shared/instance.ts";
import { createLogger, type PipbotLogger } from "../shared/log.ts";
import { onStopSignals, type StopReason } from "../shared/stop-signals.ts";
import { openStore, type Store } from "../shared/store/index.ts";
import type { PushTarget } from "./push.ts";
import { SyncRunner } from "./runner.ts";
import { buildStatus, type StatusSource, statusHandler } from "./status.ts";

const USAGE = `usage: pipbot sync

Ships every outbox entry of the store (DATA_DIR) to Convex (sync-v1), signed with SYNC_SECRET.
Without CONVEX_URL (or CONVEX_SITE_URL), CLERK_USER_ID and SYNC_SECRET it runs disabled and keeps
the outbox. Status on http://127.0.0.1:$SYNC_STATUS_PORT/status (default 18790).`;

/** The push target, or the reason sync is disabled. */
export function pushTarget(config: SyncConfig): { target: PushTarget } | { disabled: string } {
  const siteUrl = convexSiteUrl(config);
  const missing = [
    !siteUrl && "CONVEX_URL (or CONVEX_SITE_URL)",
    !config.CLERK_USER_ID && "CLERK_USER_ID",
    !config.SYNC_SECRET && "SYNC_SECRET",
  ].filter((x): x is string => Boolean(x));
  if (missing.length > 0 || !siteUrl || !config.CLERK_USER_ID || !config.SYNC_SECRET) {
    return { disabled: `not configured (missing ${missing.join(", ")})` };
  }
  return {
    target: {
      siteUrl,
      userId: config.CLERK_USER_ID,
      machineId: config.FLY_MACHINE_ID ?? null,
      secret: config.SYNC_SECRET,
      timeoutMs: config.SYNC_REQUEST_TIMEOUT_MS,
    },
  };
}

function disabledSource(store: Store): StatusSource {
  return {
    status: () =>
      buildStatus(
        { state: "disabled", lastSuccessAt: null, lastError: null },
        store.outboxStats(),
        Date.now(),
      ),
    quarantined: () => store.quarantinedEntries(),
  };
}

function startStatusServer(config: SyncConfig, source: StatusSource, log: PipbotLogger) {
  try {
    return Bun.serve({
      hostname: "127.0.0.1",
      port: config.SYNC_STATUS_PORT,
      fetch: withInstanceHeader(statusHandler(source), process.env[INSTANCE_VAR]),
    });
  } catch (e) {
    log.fatal(
      { err: (e as Error).message, port: config.SYNC_STATUS_PORT },
      `cannot serve sync status on 127.0.0.1:${config.SYNC_STATUS_PORT}: ${(e as Error).message}. Fix: set SYNC_STATUS_PORT to a free port`,
    );
    return null;
  }
}

export async function main(argv: string[]): Promise<number> {
  parseCommandArgs(argv, {}, USAGE);
  const config = loadConfigOrExit(syncEnv);
  const log = createLogger({ proc: "sync", level: config.LOG_LEVEL, secrets: secretValues(process.env) });
  log.info({ event: "identity", ...identity(["sync"]) }, "pipbot sync starting");

  const store = openStore(config.DATA_DIR);
  const t = pushTarget(config);
  let runner: SyncRunner | null = null;
  if ("disabled" in t) {
    // No Convex target is the expected local state (`pipbot demo`, `pipbot up` without Convex):
    // info. On a Fly machine it is a provisioning fault — a hosted VM's messages must reach Convex.
    const hosted = Boolean(config.FLY_MACHINE_ID);
    const pending = store.outboxStats().pending;
    if (hosted)
      log.warn(
        { event: "sync_disabled", reason: t.disabled, pending },
        `sync disabled on Fly machine ${config.FLY_MACHINE_ID}: ${t.disabled}; messages stay in the outbox until CONVEX_URL, CLERK_USER_ID and SYNC_SECRET are provisioned`,
      );
    else
      log.info(
        { event: "sync_disabled", pending },
        "sync has no Convex target (expected without Convex): messages are kept in the outbox and will be delivered once Convex is configured",
      );
  } else {
    runner = new SyncRunner({
      store,
      target: t.target,
      logger: log,
      maxEntries: config.SYNC_BATCH_MAX_ENTRIES,
      quarantineAfter: config.SYNC_QUARANTINE_AFTER,
      backoff: { baseMs: config.SYNC_BACKOFF_BASE_MS, capMs: config.SYNC_BACKOFF_CAP_MS },
      authRetryMs: config.SYNC_AUTH_RETRY_MS,
      pollIntervalMs: config.SYNC_POLL_INTERVAL_MS,
    });
  }

  const server = startStatusServer(config, runner ?? disabledSource(store), log);
  if (!server) {
    store.close();
    return 1;
  }
  const target = "target" in t ? new URL(t.target.siteUrl).host : null;
  log.info(
    {
      event: "sync_ready",
      statusPort: server.port,
      enabled: runner !== null,
      target,
      userId: config.CLERK_USER_ID ?? null,
    },
    `sync worker ${runner ? "running" : "keeping the outbox (no Convex target)"}; status on http://127.0.0.1:${server.port}/status`,
  );

  const { promise: stopRequested, resolve: requestStop } = Promise.withResolvers<StopReason>();
  const offStop = onStopSignals(
    {
      graceful: (sig) => {
        log.info(
          { event: "sync_stopping", signal: sig, graceMs: config.SYNC_SHUTDOWN_GRACE_MS },
          `received ${sig}; stopping`,
        );
        requestStop(sig);
      },
      force: (sig) => {
        log.warn(
          { event: "sync_stopping", signal: sig },
          `received ${sig} again; abandoning the in-flight push now`,
        );
        runner?.abortNow();
      },
    },
    { env: process.env },
  );

  const loop = runner ? runner.start() : new Promise<void>(() => {});
  let code = 0;
  try {
    await Promise.race([stopRequested, loop]);
  } catch (e) {
    log.fatal({ err: e }, "sync worker failed");
    code = 1;
  }
  await runner?.stop(config.SYNC_SHUTDOWN_GRACE_MS).catch(() => {});
  await server.stop(true);
  const s = (runner ?? disabledSource(store)).status();
  store.close();
  log.info(
    {
      event: "sync_stopped",
      pending: s.pending,
      delivered: s.delivered,
      quarantined: s.quarantined,
      exitCode: code,
    },
    "sync worker stopped",
  );
  offStop();
  return code;
}
