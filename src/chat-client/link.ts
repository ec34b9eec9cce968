/**
 * The interactive `pipbot chat`'s link to the gateway: a ChatConnection that is re-made when the
 * socket drops (a gateway restart closes it 1012), with a bounded backoff (250 ms doubling to 4 s,
 * at most `reconnectMs` in all). Status lines ("connection lost …; reconnecting…", "reconnected")
 * go to `status` (stderr), never to the reply output. A rejected token or the bound running out
 * ends the link for good: `failed` resolves with the error (exit 4 or 3).
 */
import { abortableSleep, type BackoffPolicy, backoffDelay } from "../shared/backoff.ts";
import { ChatConnection, type EventFrame, GatewayClientError, safeUrl } from "./client.ts";

/** Reconnect attempts: 250 ms, doubling up to 4 s (within reconnectMs). */
const RECONNECT_BACKOFF: BackoffPolicy = { baseMs: 250, capMs: 4000, jitter: "none" };

export interface ChatLinkOptions {
  url: string;
  token?: string | undefined;
  clientVersion: string;
  /** How long to keep trying to reconnect after the socket dropped. */
  reconnectMs: number;
  onEvent: (ev: EventFrame) => void;
  /** The socket dropped (a turn in progress ends here). */
  onLost: (code: number, reason: string) => void;
  status: (line: string) => void;
  /** Injected for tests; default setTimeout-based. */
  sleep?: (ms: number) => Promise<void>;
}

export class ChatLink {
  private conn: ChatConnection | null = null;
  private reconnecting: Promise<ChatConnection> | null = null;
  private closedByUs = false;
  private readonly failure = Promise.withResolvers<GatewayClientError>();
  failedWith: GatewayClientError | null = null;

  constructor(private readonly o: ChatLinkOptions) {}

  /** Resolves when the link gave up (auth rejected, or no gateway within reconnectMs). */
  get failed(): Promise<GatewayClientError> {
    return this.failure.promise;
  }

  /** The first connection: throws its GatewayClientError (the caller maps it to an exit code). */
  async connect(): Promise<void> {
    this.conn = await this.open(15_000);
  }

  /** The open connection, waiting for a reconnect in progress; throws once the link failed. */
  async ready(): Promise<ChatConnection> {
    if (this.failedWith) throw this.failedWith;
    if (this.conn && !this.conn.closed) return this.conn;
    if (this.reconnecting) return this.reconnecting;
    throw new GatewayClientError("not connected", "closed");
  }

  /** Whether the gateway offers `method` (its hello-ok.features.methods). */
  offers(method: string): boolean {
    const methods = (this.conn?.hello?.features as { methods?: unknown } | undefined)?.methods;
    return Array.isArray(methods) && methods.includes(method);
  }

  async request<T = unknown>(method: string, params?: unknown): Promise<T> {
    return (await this.ready()).request<T>(method, params);
  }

  close(): void {
    this.closedByUs = true;
    this.conn?.close();
  }

  private open(timeoutMs: number): Promise<ChatConnection> {
    const c = new ChatConnection({
      url: this.o.url,
      token: this.o.token,
      clientVersion: this.o.clientVersion,
      timeoutMs,
      onEvent: (ev) => this.o.onEvent(ev),
      onClose: (code, reason) => this.lost(c, code, reason),
    });
    return c.connect().then(() => c);
  }

  private lost(c: ChatConnection, code: number, reason: string): void {
    // Only the current, established connection counts (attempts that fail are handled below).
    if (c !== this.conn || this.closedByUs) return;
    this.conn = null;
    this.o.onLost(code, reason);
    this.o.status(
      `pipbot chat: connection lost (${code}${reason ? ` ${reason}` : ""}); reconnecting to ${safeUrl(this.o.url)}…`,
    );
    this.reconnecting = this.reconnect();
    this.reconnecting.then(
      (next) => {
        this.reconnecting = null;
        this.conn = next;
        this.o.status("pipbot chat: reconnected");
      },
      (e: GatewayClientError) => {
        this.reconnecting = null;
        this.failedWith = e;
        this.failure.resolve(e);
      },
    );
    // Nobody may be waiting on it: the rejection is handled above.
    this.reconnecting.catch(() => {});
  }

  private async reconnect(): Promise<ChatConnection> {
    const sleep = this.o.sleep ?? ((ms: number) => abortableSleep(ms));
    const deadline = Date.now() + this.o.reconnectMs;
    let attempt = 0;
    let last = "";
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(backoffDelay(++attempt, RECONNECT_BACKOFF), left));
      if (this.closedByUs) throw new GatewayClientError("closed", "closed");
      try {
        return await this.open(Math.max(1000, Math.min(5000, deadline - Date.now())));
      } catch (e) {
        const err = e as GatewayClientError;
        if (err.kind === "auth") throw err;
        last = err.message;
      }
    }
    throw new GatewayClientError(
      `could not reconnect to ${safeUrl(this.o.url)} within ${Math.round(this.o.reconnectMs / 1000)} s${last ? ` (${last})` : ""}`,
      "connect",
    );
  }
}
