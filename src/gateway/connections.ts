/**
 * The connection registry: the one owner of which connections exist and which still await their
 * handshake. A socket is `add`ed when it opens (pending), `open`ed by a successful handshake, and
 * `markClosed` when it is gone — which removes it from both sets and logs its one close line with
 * the FIRST close cause (the server's, recorded by Connection.close, else the client's), exactly
 * once even if the socket reports its close twice.
 */
import type { PipbotLogger } from "../shared/log.ts";
import type { Connection } from "./connection.ts";

/** Characters of a client's close reason kept in the log line. */
export const LOGGED_REASON_CHARS = 60;

export class ConnectionRegistry {
  private readonly all = new Set<Connection>();
  private readonly awaiting = new Set<Connection>();

  constructor(
    private readonly logger: PipbotLogger,
    private readonly now: () => number,
  ) {}

  /** A new socket: pending until its handshake. */
  add(conn: Connection): void {
    this.all.add(conn);
    this.awaiting.add(conn);
  }

  /** The handshake succeeded: the connection is open for requests and events. */
  open(conn: Connection, init: { protocol: 3 | 4; clientId: string; clientMode: string }): void {
    this.awaiting.delete(conn);
    conn.state = "open";
    conn.protocol = init.protocol;
    conn.clientId = init.clientId;
    conn.clientMode = init.clientMode;
  }

  /** The socket is gone: it leaves the registry and its close is logged once (first cause wins). */
  markClosed(conn: Connection, code: number, reason: string): void {
    if (!this.all.delete(conn)) return;
    this.awaiting.delete(conn);
    const cause =
      conn.closeCause ?? `client closed ${code}${reason ? ` ${reason.slice(0, LOGGED_REASON_CHARS)}` : ""}`;
    conn.closeCause = cause;
    conn.state = "closed";
    this.logger.info(
      {
        connId: conn.connId,
        addr: conn.addr,
        protocol: conn.protocol,
        client: conn.clientId,
        authenticated: conn.protocol !== null,
        durationMs: this.now() - conn.openedAt,
        code,
        cause,
        framesIn: conn.framesIn,
        droppedEvents: conn.droppedEvents,
      },
      "gateway connection closed",
    );
  }

  /** Every connection, pending or open. */
  [Symbol.iterator](): IterableIterator<Connection> {
    return this.all.values();
  }

  /** The connections still awaiting their handshake. */
  pending(): IterableIterator<Connection> {
    return this.awaiting.values();
  }

  get size(): number {
    return this.all.size;
  }

  get pendingCount(): number {
    return this.awaiting.size;
  }
}
