/**
 * The gateway: HTTP health routes (Hono) beside an OpenClaw-compatible WebSocket (Bun's native
 * server WebSocket). `createGateway` is a function of its inputs (config, token, logger, store,
 * AI client); main.ts hands `fetch` and `websocket` to Bun.serve, tests do the same on port 0.
 *
 * Connection lifecycle: open → `connect.challenge` → first request must be `connect` (64 KiB
 * limit, deadline) → `hello-ok` → requests routed through the method table; ticks every
 * tickIntervalMs; on stop: `shutdown` then close 1012.
 */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { Hono } from "hono";
import { PipbotError, toPipbotError } from "../shared/errors.ts";
import type { PipbotLogger } from "../shared/log.ts";
import { bearerToken } from "../shared/secure-compare.ts";
import type { Store } from "../shared/store/index.ts";
import { type AiClient, createAiClient } from "./ai-client.ts";
import { AuthRateLimiter, authError, checkToken, rateLimitedError } from "./auth.ts";
import { type ChatEventPayload, ChatRuns } from "./chat.ts";
import { Connection } from "./connection.ts";
import { callMethod, EVENT_NAMES, METHOD_NAMES, type MethodContext } from "./methods.ts";
import {
  CLOSE,
  connectParamsSchema,
  describeZodError,
  errorResponse,
  GatewayError,
  helloOk,
  invalidRequest,
  MAX_PAYLOAD_BYTES,
  negotiateProtocol,
  okResponse,
  PRE_HANDSHAKE_MAX_BYTES,
  parseRequestFrame,
  TICK_INTERVAL_MS,
} from "./protocol.ts";
import { webChatHeaders, webChatPage } from "./webchat.ts";

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
  GATEWAY_HANDSHAKE_TIMEOUT_MS: number;
  GATEWAY_MAX_BUFFERED_BYTES: number;
  GATEWAY_AUTH_MAX_FAILURES: number;
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
}

interface WsData {
  connId: string;
  addr: string;
  bearer: string | undefined;
  conn: Connection | null;
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

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, logger, store } = deps;
  const now = deps.now ?? Date.now;
  const startedAt = now();
  const doFetch = deps.fetch ?? fetch;
  const identity =
    config.CLERK_USER_ID && config.PIPBOT_SERVICE_TOKEN
      ? { userId: config.CLERK_USER_ID, serviceToken: config.PIPBOT_SERVICE_TOKEN }
      : undefined;
  const ai =
    deps.ai ??
    createAiClient({ baseUrl: config.AI_URL, token: config.AI_SERVER_TOKEN, identity, fetch: doFetch });
  const limiter = new AuthRateLimiter({ maxFailures: config.GATEWAY_AUTH_MAX_FAILURES, now });
  const tickIntervalMs = deps.tickIntervalMs ?? TICK_INTERVAL_MS;
  const conns = new Set<Connection>();
  const pending = new Set<Connection>();
  let upgrades = 0;
  let stopping = false;
  let nextConn = 0;

  const broadcastChat = (p: ChatEventPayload) => {
    const p4 = JSON.stringify(p);
    let p3: string | undefined;
    const droppable = p.state === "delta";
    for (const c of conns) {
      if (c.state !== "open") continue;
      if (c.protocol === 3 && p.errorKind !== undefined) {
        if (p3 === undefined) {
          const { errorKind: _omit, ...rest } = p;
          p3 = JSON.stringify(rest);
        }
        c.sendEvent("chat", p3, droppable);
      } else {
        c.sendEvent("chat", p4, droppable);
      }
    }
  };

  const runs = new ChatRuns({
    store,
    ai,
    logger,
    emit: broadcastChat,
    model: config.AI_DEFAULT_MODEL,
    deltaWindowMs: config.GATEWAY_DELTA_WINDOW_MS,
    contextBudgetChars: config.GATEWAY_CONTEXT_BUDGET_CHARS,
    runTimeoutMs: config.GATEWAY_RUN_TIMEOUT_MS,
    now,
  });

  const syncStatus = async () => {
    try {
      const res = await doFetch(`http://127.0.0.1:${config.SYNC_STATUS_PORT}/status`, {
        signal: AbortSignal.timeout(1000),
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
    version: deps.version ?? "0.0.0",
    startedAt,
    connections: () => conns.size,
    model: config.AI_DEFAULT_MODEL,
    now,
  };

  // ---- HTTP -----------------------------------------------------------------------------------

  const http = new Hono();
  http.get("/healthz", (c) => c.json({ ok: true }));
  http.get("/readyz", async (c) => {
    if (stopping) return c.json({ ok: false, reason: "gateway is shutting down" }, 503);
    if (!store.ping()) return c.json({ ok: false, reason: "store unavailable" }, 503);
    const h = await ai.health(1000);
    if (!h.ok) return c.json({ ok: false, reason: `AI server not ready: ${h.error}` }, 503);
    return c.json({ ok: true });
  });
  // The web chat: no token needed to load it (it holds none); the browser keeps the token of the
  // URL fragment in memory. A new CSP nonce per response.
  http.get("/", () => {
    const nonce = crypto.randomUUID().replaceAll("-", "");
    return new Response(webChatPage(nonce, methodCtx.version), { headers: webChatHeaders(nonce) });
  });
  http.notFound((c) => c.json(new PipbotError("not_found", "not found").toHttpBody(), 404));
  http.onError((err, c) => {
    const e = toPipbotError(err);
    logger.error({ err, path: new URL(c.req.url).pathname }, "gateway http error");
    return c.json(e.toHttpBody(), e.status as 500);
  });

  const fetchHandler = (req: Request, server: Server<WsData>): Response | Promise<Response> | undefined => {
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      const path = new URL(req.url).pathname;
      if (path !== "/" && path !== "/ws") return new Response("not found", { status: 404 });
      if (stopping)
        return new Response("gateway is restarting", { status: 503, headers: { "retry-after": "2" } });
      upgrades++;
      const fromHeader = deps.clientIpHeader ? req.headers.get(deps.clientIpHeader)?.trim() : undefined;
      const addr = fromHeader || server.requestIP(req)?.address || "unknown";
      const data: WsData = {
        connId: `c${(++nextConn).toString(36)}-${crypto.randomUUID().slice(0, 8)}`,
        addr,
        bearer: bearerToken(req.headers.get("authorization")),
        conn: null,
      };
      if (server.upgrade(req, { data })) return undefined;
      return new Response("WebSocket upgrade failed", { status: 400 });
    }
    return http.fetch(req);
  };

  // ---- WebSocket ------------------------------------------------------------------------------

  const handshake = (conn: Connection, text: string) => {
    const parsed = parseRequestFrame(text);
    if (!parsed.ok) {
      conn.close(CLOSE.policy, "invalid request frame");
      return;
    }
    const { id, method, params } = parsed.frame;
    const fail = (err: GatewayError, code: number, reason: string) => {
      conn.sendResponse(errorResponse(id, err));
      conn.close(code, reason);
    };
    if (method !== "connect") {
      return fail(
        invalidRequest("invalid handshake: first request must be connect"),
        CLOSE.policy,
        "invalid handshake",
      );
    }
    const p = connectParamsSchema.safeParse(params);
    if (!p.success) {
      const msg = `invalid connect params: ${describeZodError(p.error)}`;
      return fail(invalidRequest(msg), CLOSE.policy, "invalid connect params");
    }
    const protocol = negotiateProtocol(p.data.minProtocol, p.data.maxProtocol);
    if (protocol === null) {
      return fail(
        invalidRequest("protocol mismatch", { code: "PROTOCOL_MISMATCH", expectedProtocol: 4 }),
        CLOSE.protocolError,
        "protocol mismatch",
      );
    }
    const wait = limiter.retryAfterMs(conn.addr);
    if (wait > 0) {
      logger.warn({ connId: conn.connId, addr: conn.addr, retryAfterMs: wait }, "gateway auth rate limited");
      return fail(rateLimitedError(wait), CLOSE.policy, "too many failed authentication attempts");
    }
    const outcome = checkToken(p.data.auth, conn.bearer, deps.token);
    if (outcome !== "ok") {
      limiter.recordFailure(conn.addr);
      logger.warn(
        {
          connId: conn.connId,
          addr: conn.addr,
          client: p.data.client.id,
          reason: outcome === "missing" ? "AUTH_TOKEN_MISSING" : "AUTH_TOKEN_MISMATCH",
        },
        "gateway auth failed",
      );
      return fail(
        authError(outcome),
        CLOSE.policy,
        outcome === "missing"
          ? "unauthorized: gateway token missing"
          : "unauthorized: gateway token mismatch",
      );
    }
    limiter.reset(conn.addr);
    pending.delete(conn);
    conn.state = "open";
    conn.protocol = protocol;
    conn.clientId = p.data.client.id;
    conn.clientMode = p.data.client.mode;
    const scopes = p.data.scopes && p.data.scopes.length > 0 ? p.data.scopes : ["operator.admin"];
    conn.sendResponse(
      okResponse(
        id,
        helloOk({
          protocol,
          version: methodCtx.version,
          connId: conn.connId,
          methods: METHOD_NAMES,
          events: EVENT_NAMES,
          uptimeMs: now() - startedAt,
          maxBufferedBytes: config.GATEWAY_MAX_BUFFERED_BYTES,
          tickIntervalMs,
          scopes,
        }),
      ),
    );
    logger.debug(
      { connId: conn.connId, protocol, client: conn.clientId, mode: conn.clientMode },
      "gateway client connected",
    );
  };

  const request = (conn: Connection, text: string) => {
    const parsed = parseRequestFrame(text);
    if (!parsed.ok) {
      conn.sendResponse(
        errorResponse(parsed.id ?? "invalid", invalidRequest(`invalid request frame: ${parsed.reason}`)),
      );
      return;
    }
    const { id, method, params } = parsed.frame;
    callMethod(methodCtx, method, params).then(
      (payload) => void conn.sendResponse(okResponse(id, payload)),
      (e: unknown) => {
        const err =
          e instanceof GatewayError
            ? e
            : new GatewayError("UNAVAILABLE", "internal error", { retryable: true });
        if (!(e instanceof GatewayError)) logger.error({ err: e, method }, "gateway method failed");
        conn.sendResponse(errorResponse(id, err));
      },
    );
  };

  const websocket: WebSocketHandler<WsData> = {
    maxPayloadLength: MAX_PAYLOAD_BYTES,
    backpressureLimit: Math.max(64 * 1024 * 1024, config.GATEWAY_MAX_BUFFERED_BYTES * 4),
    closeOnBackpressureLimit: false,
    idleTimeout: 120,
    sendPings: true,
    perMessageDeflate: false,
    open(ws: ServerWebSocket<WsData>) {
      const conn = new Connection(ws, {
        connId: ws.data.connId,
        addr: ws.data.addr,
        bearer: ws.data.bearer,
        openedAt: now(),
        maxBufferedBytes: config.GATEWAY_MAX_BUFFERED_BYTES,
      });
      ws.data.conn = conn;
      conns.add(conn);
      pending.add(conn);
      if (stopping) {
        conn.close(CLOSE.restart, "service restart");
        return;
      }
      conn.sendChallenge(crypto.randomUUID(), now());
    },
    message(ws: ServerWebSocket<WsData>, message: string | Buffer) {
      const conn = ws.data.conn;
      if (!conn || conn.state === "closed") return;
      conn.framesIn++;
      const size = typeof message === "string" ? message.length : message.byteLength;
      if (conn.state === "pending") {
        if (
          size > PRE_HANDSHAKE_MAX_BYTES ||
          (typeof message === "string" && Buffer.byteLength(message) > PRE_HANDSHAKE_MAX_BYTES)
        ) {
          conn.close(CLOSE.tooBig, "handshake frame too large");
          return;
        }
        handshake(conn, typeof message === "string" ? message : message.toString("utf8"));
        return;
      }
      request(conn, typeof message === "string" ? message : message.toString("utf8"));
    },
    close(ws: ServerWebSocket<WsData>, code: number, reason: string) {
      const conn = ws.data.conn;
      if (!conn) return;
      const wasOpen = conn.protocol !== null;
      const cause = conn.closeCause ?? `client closed ${code}${reason ? ` ${reason.slice(0, 60)}` : ""}`;
      conn.state = "closed";
      conns.delete(conn);
      pending.delete(conn);
      logger.info(
        {
          connId: conn.connId,
          addr: conn.addr,
          protocol: conn.protocol,
          client: conn.clientId,
          authenticated: wasOpen,
          durationMs: now() - conn.openedAt,
          code,
          cause,
          framesIn: conn.framesIn,
          droppedEvents: conn.droppedEvents,
        },
        "gateway connection closed",
      );
    },
  };

  const handshakeTimer = setInterval(
    () => {
      const cutoff = now() - config.GATEWAY_HANDSHAKE_TIMEOUT_MS;
      for (const c of pending) if (c.openedAt <= cutoff) c.close(CLOSE.policy, "handshake timeout");
    },
    Math.min(1000, Math.max(50, Math.floor(config.GATEWAY_HANDSHAKE_TIMEOUT_MS / 4))),
  );
  const tickTimer = setInterval(() => {
    const payload = JSON.stringify({ ts: now() });
    for (const c of conns) if (c.state === "open") c.sendEvent("tick", payload, true);
  }, tickIntervalMs);

  const stop = async (opts: { reason?: string; restartExpectedMs?: number } = {}) => {
    if (stopping) return;
    stopping = true;
    clearInterval(handshakeTimer);
    clearInterval(tickTimer);
    await runs.shutdown();
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
    websocket,
    runs,
    stats: () => ({
      connections: conns.size,
      pending: pending.size,
      open: conns.size - pending.size,
      upgrades,
      activeRuns: runs.activeCount,
    }),
    stop,
  };
}
