/**
 * The connect handshake: the first request of a connection must be `connect`, with valid params,
 * a protocol both sides speak (3 or 4) and the gateway token, within the auth rate limit. On
 * success the connection leaves `pending`, becomes `open` and gets `hello-ok`; on any failure it
 * gets one error response and is closed.
 */
import type { PipbotError } from "../shared/errors.ts";
import type { PipbotLogger } from "../shared/log.ts";
import { type AuthRateLimiter, authError, checkToken, rateLimitedError } from "./auth.ts";
import type { Connection } from "./connection.ts";
import type { ConnectionRegistry } from "./connections.ts";
import { EVENT_NAMES, METHOD_NAMES } from "./methods.ts";
import {
  CLOSE,
  connectParamsSchema,
  describeZodError,
  errorFrame,
  helloOk,
  invalidRequest,
  negotiateProtocol,
  okResponse,
  parseRequestFrame,
} from "./protocol.ts";

export interface HandshakeContext {
  /** The token clients must present. */
  token: string;
  limiter: AuthRateLimiter;
  logger: PipbotLogger;
  version: string;
  startedAt: number;
  now: () => number;
  maxBufferedBytes: number;
  tickIntervalMs: number;
  /** The connections still awaiting their handshake; an authenticated one leaves it. */
  registry: ConnectionRegistry;
}

export function handshake(ctx: HandshakeContext, conn: Connection, text: string) {
  const { limiter, logger } = ctx;
  const parsed = parseRequestFrame(text);
  if (!parsed.ok) {
    conn.close(CLOSE.policy, "invalid request frame");
    return;
  }
  const { id, method, params } = parsed.frame;
  const fail = (err: PipbotError, code: number, reason: string) => {
    conn.sendResponse(errorFrame(id, err));
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
  const outcome = checkToken(p.data.auth, conn.bearer, ctx.token);
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
      outcome === "missing" ? "unauthorized: gateway token missing" : "unauthorized: gateway token mismatch",
    );
  }
  limiter.reset(conn.addr);
  ctx.registry.open(conn, { protocol, clientId: p.data.client.id, clientMode: p.data.client.mode });
  const scopes = p.data.scopes && p.data.scopes.length > 0 ? p.data.scopes : ["operator.admin"];
  conn.sendResponse(
    okResponse(
      id,
      helloOk({
        protocol,
        version: ctx.version,
        connId: conn.connId,
        methods: METHOD_NAMES,
        events: EVENT_NAMES,
        uptimeMs: ctx.now() - ctx.startedAt,
        maxBufferedBytes: ctx.maxBufferedBytes,
        tickIntervalMs: ctx.tickIntervalMs,
        scopes,
      }),
    ),
  );
  logger.debug(
    { connId: conn.connId, protocol, client: conn.clientId, mode: conn.clientMode },
    "gateway client connected",
  );
}
