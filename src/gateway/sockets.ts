/**
 * The WebSocket side of the gateway (Bun's native server WebSocket): the upgrade (path, stopping,
 * client address, bearer header), then each socket's lifecycle: open → `connect.challenge`;
 * frames before the handshake are limited to 64 KiB and go to the handshake, later ones to method
 * dispatch; on close the connection leaves the registry and its one close line is logged.
 */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { PipbotLogger } from "../shared/log.ts";
import { bearerToken } from "../shared/secure-compare.ts";
import { Connection } from "./connection.ts";
import type { ConnectionRegistry } from "./connections.ts";
import { CONTROL_UI_BASE } from "./control-ui.ts";
import { CLOSE, MAX_PAYLOAD_BYTES, PRE_HANDSHAKE_MAX_BYTES } from "./protocol.ts";

export interface WsData {
  connId: string;
  addr: string;
  bearer: string | undefined;
  conn: Connection | null;
}

export interface SocketsOptions {
  /** Every connection, pending or open (connections.ts). */
  registry: ConnectionRegistry;
  logger: PipbotLogger;
  now: () => number;
  maxBufferedBytes: number;
  /** Header carrying the real client address behind a trusted proxy (e.g. fly-client-ip). */
  clientIpHeader?: string | undefined;
  isStopping: () => boolean;
  /** The first frame of a pending connection. */
  onHandshake: (conn: Connection, text: string) => void;
  /** A frame of an open connection. */
  onRequest: (conn: Connection, text: string) => void;
}

export interface Sockets {
  /** Answer a WebSocket upgrade request: undefined once upgraded, else the refusal. */
  upgrade: (req: Request, server: Server<WsData>) => Response | undefined;
  websocket: WebSocketHandler<WsData>;
  upgrades: () => number;
}

/** Retry-After (seconds) on an upgrade refused while the gateway restarts. */
const RESTARTING_RETRY_AFTER_S = 2;
/** Bun's per-socket backpressure limit: far above our own slow-consumer limit, which acts first. */
const MIN_BACKPRESSURE_BYTES = 64 * 1024 * 1024;
/** Seconds without traffic before Bun closes a socket (its pings keep live ones busy). */
const IDLE_TIMEOUT_S = 120;

export function createSockets(o: SocketsOptions): Sockets {
  const { registry, now } = o;
  let upgrades = 0;
  let nextConn = 0;

  const upgrade = (req: Request, server: Server<WsData>): Response | undefined => {
    const path = new URL(req.url).pathname;
    if (path !== "/" && path !== "/ws" && path !== CONTROL_UI_BASE)
      return new Response("not found", { status: 404 });
    if (o.isStopping())
      return new Response("gateway is restarting", {
        status: 503,
        headers: { "retry-after": String(RESTARTING_RETRY_AFTER_S) },
      });
    upgrades++;
    const fromHeader = o.clientIpHeader ? req.headers.get(o.clientIpHeader)?.trim() : undefined;
    const addr = fromHeader || server.requestIP(req)?.address || "unknown";
    const data: WsData = {
      connId: `c${(++nextConn).toString(36)}-${crypto.randomUUID().slice(0, 8)}`,
      addr,
      bearer: bearerToken(req.headers.get("authorization")),
      conn: null,
    };
    if (server.upgrade(req, { data })) return undefined;
    return new Response("WebSocket upgrade failed", { status: 400 });
  };

  const websocket: WebSocketHandler<WsData> = {
    maxPayloadLength: MAX_PAYLOAD_BYTES,
    backpressureLimit: Math.max(MIN_BACKPRESSURE_BYTES, o.maxBufferedBytes * 4),
    closeOnBackpressureLimit: false,
    idleTimeout: IDLE_TIMEOUT_S,
    sendPings: true,
    perMessageDeflate: false,
    open(ws: ServerWebSocket<WsData>) {
      const conn = new Connection(ws, {
        connId: ws.data.connId,
        addr: ws.data.addr,
        bearer: ws.data.bearer,
        openedAt: now(),
        maxBufferedBytes: o.maxBufferedBytes,
      });
      ws.data.conn = conn;
      registry.add(conn);
      if (o.isStopping()) {
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
        o.onHandshake(conn, typeof message === "string" ? message : message.toString("utf8"));
        return;
      }
      o.onRequest(conn, typeof message === "string" ? message : message.toString("utf8"));
    },
    close(ws: ServerWebSocket<WsData>, code: number, reason: string) {
      const conn = ws.data.conn;
      if (conn) registry.markClosed(conn, code, reason);
    },
  };

  return { upgrade, websocket, upgrades: () => upgrades };
}
