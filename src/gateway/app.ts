/**
 * The gateway: HTTP routes (Hono, http-routes.ts) beside an OpenClaw-compatible WebSocket (Bun's
 * native server WebSocket, sockets.ts). `createGateway` is a function of its inputs (config, token,
 * logger, store, AI client); main.ts hands `fetch` and `websocket` to Bun.serve, tests do the same
 * on port 0. This file composes the parts and owns the connection registry, the handshake
 * deadline, ticks and stop; chat events reach the connections through chat-broadcast.ts.
 *
 * Connection lifecycle: open → `connect.challenge` → first request must be `connect` (64 KiB
 * limit, deadline; handshake.ts) → `hello-ok` → requests routed through the method table
 * (dispatch.ts); ticks every tickIntervalMs; on stop: `shutdown` then close 1012.
 */
import type { Server, WebSocketHandler } from "bun";
import { isLoopbackHost } from "../shared/config/index.ts";
import { identity as buildIdentity, type Identity } from "../shared/identity.ts";
import type { PipbotLogger } from "../shared/log.ts";
import type { LogRing } from "../shared/log-ring.ts";
import type { Store } from "../shared/store/index.ts";
import { type AiClient, createAiClient } from "./ai-client.ts";
import { AiAvailability } from "./ai-wait.ts";
import { AuthRateLimiter } from "./auth.ts";
import { ChatRuns } from "./chat.ts";
import { createChatBroadcast } from "./chat-broadcast.ts";
import { ConnectionRegistry } from "./connections.ts";
import { createControlUi } from "./control-ui.ts";
import { dispatchRequest } from "./dispatch.ts";
import { type HandshakeContext, handshake } from "./handshake.ts";
import { createHttpRoutes } from "./http-routes.ts";
import { HISTORY_MAX_BYTES, type MethodContext } from "./methods.ts";
import { createModelCatalog } from "./model-catalog.ts";
import { CLOSE, TICK_INTERVAL_MS } from "./protocol.ts";
import { createSessionEvents } from "./session-events.ts";
import { createSockets, type WsData } from "./sockets.ts";

export interface GatewaySettings {
  AI_URL: string;
  AI_SERVER_TOKEN?: string | undefined;
  /** The VM's identity, forwarded to the AI server (both or neither; the config rule checks). */
  CLERK_USER_ID?: string | undefined;
  PIPBOT_SERVICE_TOKEN?: string | undefined;
  AI_DEFAULT_MODEL?: string | undefined;
  SYNC_STATUS_PORT: number;
  GATEWAY_DELTA_WINDOW_MS: number;
  GATEWAY_CONTEXT_BUDGET_CHARS: number;
  GATEWAY_RUN_TIMEOUT_MS: number;
  /** How long a run waits for an unreachable AI server (default 10 s; 0: no wait). */
  GATEWAY_AI_WAIT_MS?: number;
  GATEWAY_HANDSHAKE_TIMEOUT_MS: number;
  GATEWAY_MAX_BUFFERED_BYTES: number;
  GATEWAY_AUTH_MAX_FAILURES: number;
  /** The OpenClaw Control UI bundle directory, served at /control/ (control-ui.ts). */
  GATEWAY_CONTROL_UI_DIR?: string | undefined;
}

export interface GatewayDeps {
  config: GatewaySettings;
  /** The token clients must present (configured or generated at startup). */
  token: string;
  logger: PipbotLogger;
  store: Store;
  ai?: AiClient;
  fetch?: typeof fetch;
  version?: string;
  now?: () => number;
  tickIntervalMs?: number;
  /** Header carrying the real client address behind a trusted proxy (e.g. fly-client-ip). */
  clientIpHeader?: string | undefined;
  /** The gateway's own recent log lines, for `logs.tail` (main.ts tees the logger into it). */
  logRing?: LogRing;
  /** Who is running (version, git SHA, image); default: the build info without Fly variables. */
  identity?: Identity;
  /** DATA_DIR (disk figures of `system.info`). */
  dataDir?: string;
}

export interface GatewayStats {
  connections: number;
  pending: number;
  open: number;
  upgrades: number;
  activeRuns: number;
}

export interface Gateway {
  fetch: (req: Request, server: Server<WsData>) => Response | Promise<Response> | undefined;
  websocket: WebSocketHandler<WsData>;
  runs: ChatRuns;
  stats(): GatewayStats;
  /** Graceful stop: end runs, broadcast `shutdown`, close every socket 1012. */
  stop(opts?: { reason?: string; restartExpectedMs?: number }): Promise<void>;
}

/** The sync worker's /status (shown by the status panels) must answer within this. */
const SYNC_STATUS_TIMEOUT_MS = 1000;

/** How often unauthenticated connections are checked against the handshake timeout. */
function handshakeSweepMs(handshakeTimeoutMs: number): number {
  return Math.min(1000, Math.max(50, Math.floor(handshakeTimeoutMs / 4)));
}

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, logger, store } = deps;
  const now = deps.now ?? Date.now;
  const startedAt = now();
  const version = deps.version ?? "0.0.0";
  const doFetch = deps.fetch ?? fetch;
  const identity =
    config.CLERK_USER_ID && config.PIPBOT_SERVICE_TOKEN
      ? { userId: config.CLERK_USER_ID, serviceToken: config.PIPBOT_SERVICE_TOKEN }
      : undefined;
  const ai =
    deps.ai ??
    createAiClient({ baseUrl: config.AI_URL, token: config.AI_SERVER_TOKEN, identity, fetch: doFetch });
  const aiAvailability = new AiAvailability(ai, config.GATEWAY_AI_WAIT_MS ?? 10_000, now);
  const limiter = new AuthRateLimiter({ maxFailures: config.GATEWAY_AUTH_MAX_FAILURES, now });
  const tickIntervalMs = deps.tickIntervalMs ?? TICK_INTERVAL_MS;
  const conns = new ConnectionRegistry(logger, now);
  let stopping = false;
  const events = createSessionEvents(conns, now, store);
  const models = createModelCatalog({
    baseUrl: config.AI_URL,
    token: config.AI_SERVER_TOKEN,
    defaultModel: config.AI_DEFAULT_MODEL,
    fetch: doFetch,
    now,
    onChange: () => events.metadataChanged(),
  });

  const broadcastChat = createChatBroadcast({ conns, store, events, logger });

  const runs = new ChatRuns({
    store,
    ai,
    logger,
    emit: broadcastChat,
    model: config.AI_DEFAULT_MODEL,
    deltaWindowMs: config.GATEWAY_DELTA_WINDOW_MS,
    contextBudgetChars: config.GATEWAY_CONTEXT_BUDGET_CHARS,
    runTimeoutMs: config.GATEWAY_RUN_TIMEOUT_MS,
    aiAvailability,
    now,
  });

  const syncStatus = async () => {
    try {
      const res = await doFetch(`http://127.0.0.1:${config.SYNC_STATUS_PORT}/status`, {
        signal: AbortSignal.timeout(SYNC_STATUS_TIMEOUT_MS),
      });
      if (!res.ok) return { ok: false as const, error: `HTTP ${res.status}` };
      return { ok: true as const, body: (await res.json()) as unknown };
    } catch (e) {
      return {
        ok: false as const,
        error: e instanceof Error && e.name === "TimeoutError" ? "timed out" : "unreachable",
      };
    }
  };

  const methodCtx: MethodContext = {
    runs,
    store,
    ai,
    syncStatus,
    version,
    startedAt,
    connections: () => conns.size,
    model: config.AI_DEFAULT_MODEL,
    aiAvailability,
    now,
    models,
    events,
    historyMaxBytes: HISTORY_MAX_BYTES,
    panels: {
      settings: config,
      redactor: logger.redactor,
      logRing: deps.logRing,
      identity: deps.identity ?? buildIdentity(["gateway"], {}),
      dataDir: deps.dataDir,
    },
  };

  const isStopping = () => stopping;
  const controlUi = config.GATEWAY_CONTROL_UI_DIR
    ? createControlUi(config.GATEWAY_CONTROL_UI_DIR)
    : undefined;
  const http = createHttpRoutes({
    store,
    ai,
    aiAvailability,
    logger,
    version,
    isStopping,
    now,
    controlUi,
    connections: () => conns.size,
    activeRuns: () => runs.activeCount,
  });
  const handshakeCtx: HandshakeContext = {
    token: deps.token,
    limiter,
    logger,
    version,
    startedAt,
    now,
    maxBufferedBytes: config.GATEWAY_MAX_BUFFERED_BYTES,
    tickIntervalMs,
    registry: conns,
  };
  const sockets = createSockets({
    registry: conns,
    logger,
    now,
    maxBufferedBytes: config.GATEWAY_MAX_BUFFERED_BYTES,
    clientIpHeader: deps.clientIpHeader,
    isStopping,
    onHandshake: (conn, text) => handshake(handshakeCtx, conn, text),
    onRequest: (conn, text) => dispatchRequest(methodCtx, logger, conn, text),
  });

  const fetchHandler = (req: Request, server: Server<WsData>): Response | Promise<Response> | undefined => {
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") return sockets.upgrade(req, server);
    return http.fetch(req, { local: isLoopbackHost(server.requestIP(req)?.address ?? "") });
  };

  const handshakeTimer = setInterval(() => {
    const cutoff = now() - config.GATEWAY_HANDSHAKE_TIMEOUT_MS;
    for (const c of conns.pending()) if (c.openedAt <= cutoff) c.close(CLOSE.policy, "handshake timeout");
  }, handshakeSweepMs(config.GATEWAY_HANDSHAKE_TIMEOUT_MS));
  /** Deleted sessions whose entries have all been synced lose their local messages (store). */
  const purgeDeleted = () => {
    try {
      const purged = store.purgeDeletedSessions();
      if (purged.length > 0) logger.info({ sessionIds: purged }, "deleted sessions purged after sync");
    } catch (e) {
      logger.warn({ err: e }, "could not purge deleted sessions (retried on the next tick)");
    }
  };
  purgeDeleted();
  const tickTimer = setInterval(() => {
    const payload = JSON.stringify({ ts: now() });
    for (const c of conns) if (c.state === "open") c.sendEvent("tick", payload, true);
    purgeDeleted();
  }, tickIntervalMs);

  const stop = async (opts: { reason?: string; restartExpectedMs?: number } = {}) => {
    if (stopping) return;
    stopping = true;
    clearInterval(handshakeTimer);
    clearInterval(tickTimer);
    await runs.shutdown();
    aiAvailability.stop();
    const payload = JSON.stringify({
      reason: opts.reason ?? "gateway stopping",
      ...(opts.restartExpectedMs !== undefined ? { restartExpectedMs: opts.restartExpectedMs } : {}),
    });
    for (const c of conns) {
      if (c.state === "open") c.sendEvent("shutdown", payload);
      c.close(CLOSE.restart, "service restart");
    }
  };

  return {
    fetch: fetchHandler,
    websocket: sockets.websocket,
    runs,
    stats: () => ({
      connections: conns.size,
      pending: conns.pendingCount,
      open: conns.size - conns.pendingCount,
      upgrades: sockets.upgrades(),
      activeRuns: runs.activeCount,
    }),
    stop,
  };
}
