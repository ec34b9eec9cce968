/**
 * One client connection: its lifecycle state (pending → open → closed), the per-connection event
 * `seq`, and sending with slow-consumer protection. It owns the close cause, which the gateway logs
 * once when the socket is gone.
 */
import { CLOSE, closeReason, eventFrameText, type ResponseFrame } from "./protocol.ts";

/** The part of Bun's ServerWebSocket a connection uses (a fake in unit tests). */
export interface SocketLike {
  send(data: string): number;
  close(code?: number, reason?: string): void;
  getBufferedAmount(): number;
}

export type ConnState = "pending" | "open" | "closed";

export interface ConnectionInit {
  connId: string;
  addr: string;
  bearer?: string | undefined;
  openedAt: number;
  maxBufferedBytes: number;
}

export class Connection {
  readonly connId: string;
  readonly addr: string;
  readonly bearer: string | undefined;
  readonly openedAt: number;
  state: ConnState = "pending";
  protocol: 3 | 4 | null = null;
  clientId: string | null = null;
  clientMode: string | null = null;
  /** Why the server closed (or "client closed"), logged once. */
  closeCause: string | null = null;
  framesIn = 0;
  droppedEvents = 0;
  /** Protocol-4 subscriptions: all sessions' changes, and stored messages per (stored) session key. */
  readonly subs = { sessions: false, messages: new Set<string>() };
  private seq = 0;
  private readonly maxBufferedBytes: number;

  constructor(
    readonly socket: SocketLike,
    init: ConnectionInit,
  ) {
    this.connId = init.connId;
    this.addr = init.addr;
    this.bearer = init.bearer;
    this.openedAt = init.openedAt;
    this.maxBufferedBytes = init.maxBufferedBytes;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** The challenge: the only event without seq. */
  sendChallenge(nonce: string, ts: number): void {
    this.write(eventFrameText("connect.challenge", JSON.stringify({ nonce, ts }), undefined));
  }

  sendResponse(frame: ResponseFrame): boolean {
    if (this.state === "closed") return false;
    if (this.overLimit()) {
      this.close(CLOSE.policy, "slow consumer");
      return false;
    }
    return this.write(JSON.stringify(frame));
  }

  /**
   * Send an event with the next seq. Droppable events (tick, chat deltas) are skipped when the
   * client is not reading; any other event closes the socket 1008 "slow consumer". A skipped
   * event does not consume a seq, so clients never see a gap.
   */
  sendEvent(event: string, payloadJson: string | undefined, droppable = false): boolean {
    if (this.state !== "open") return false;
    if (this.overLimit()) {
      if (droppable) {
        this.droppedEvents++;
        return false;
      }
      this.close(CLOSE.policy, "slow consumer");
      return false;
    }
    this.seq += 1;
    return this.write(eventFrameText(event, payloadJson, this.seq));
  }

  close(code: number, reason: string): void {
    if (this.state === "closed") return;
    this.closeCause ??= `${code} ${reason}`;
    this.state = "closed";
    try {
      this.socket.close(code, closeReason(reason));
    } catch {
      /* already closed */
    }
  }

  private overLimit(): boolean {
    try {
      return this.socket.getBufferedAmount() > this.maxBufferedBytes;
    } catch {
      return false;
    }
  }

  private write(text: string): boolean {
    try {
      return this.socket.send(text) !== 0;
    } catch {
      return false;
    }
  }
}
