/**
 * A small protocol-4 client of the gateway for `pipbot chat`, on Bun's built-in WebSocket:
 * waits for `connect.challenge`, sends `connect` with the token, then correlates requests by id
 * and hands events to a listener. Connect failures carry the server's `details.code`.
 */
import { type EventFrame, parseFrame, serverFrameSchema } from "../shared/gateway-frames.ts";

export class GatewayClientError extends Error {
  constructor(
    message: string,
    readonly kind: "connect" | "auth" | "protocol" | "closed" | "request",
    readonly code?: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "GatewayClientError";
  }
}

export type { EventFrame } from "../shared/gateway-frames.ts";

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface ConnectOptions {
  url: string;
  token?: string | undefined;
  clientVersion?: string;
  timeoutMs?: number;
  onEvent?: (ev: EventFrame) => void;
  onClose?: (code: number, reason: string) => void;
}

export class ChatConnection {
  private ws: WebSocket | null = null;
  private readonly pending = new Map<string, Pending>();
  private nextId = 0;
  closed = false;
  hello: Record<string, unknown> | null = null;

  constructor(private readonly opts: ConnectOptions) {}

  /** Open, handshake, resolve with hello-ok (or reject with a GatewayClientError). */
  connect(): Promise<Record<string, unknown>> {
    const { url, timeoutMs = 15_000 } = this.opts;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: GatewayClientError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          this.ws?.close();
        } catch {
          /* ignore */
        }
        reject(e);
      };
      const timer = setTimeout(
        () =>
          fail(new GatewayClientError(`no answer from ${safeUrl(url)} within ${timeoutMs} ms`, "connect")),
        timeoutMs,
      );
      let ws: WebSocket;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        fail(
          new GatewayClientError(`invalid gateway URL ${safeUrl(url)}: ${(e as Error).message}`, "connect"),
        );
        return;
      }
      this.ws = ws;
      let opened = false;
      let connectSent = false;
      const sendConnect = () => {
        if (connectSent) return;
        connectSent = true;
        this.request("connect", {
          minProtocol: 4,
          maxProtocol: 4,
          client: {
            id: "cli",
            version: this.opts.clientVersion ?? "0.0.0",
            platform: process.platform,
            mode: "cli",
          },
          role: "operator",
          scopes: ["operator.admin"],
          ...(this.opts.token ? { auth: { token: this.opts.token } } : {}),
        }).then(
          (hello) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            this.hello = hello as Record<string, unknown>;
            resolve(this.hello);
          },
          (e: unknown) => {
            const err = e as GatewayClientError;
            const code = err.code;
            const auth = typeof code === "string" && code.startsWith("AUTH_");
            fail(new GatewayClientError(err.message, auth ? "auth" : "protocol", code, err.details));
          },
        );
      };
      ws.onopen = () => {
        opened = true;
      };
      ws.onmessage = (m) => {
        // The shared frame schema (src/shared/gateway-frames.ts): anything else is ignored.
        const parsed = parseFrame(String(m.data), serverFrameSchema);
        if (!parsed.ok) return;
        const frame = parsed.frame;
        if (frame.type === "event") {
          if (frame.event === "connect.challenge") sendConnect();
          else this.opts.onEvent?.(frame);
        } else {
          const p = this.pending.get(frame.id);
          if (!p) return;
          this.pending.delete(frame.id);
          if (frame.ok) p.resolve(frame.payload);
          else {
            const e = frame.error;
            const detailCode = typeof e?.details?.code === "string" ? e.details.code : e?.code;
            p.reject(
              new GatewayClientError(e?.message ?? "request failed", "request", detailCode, e?.details),
            );
          }
        }
      };
      ws.onerror = () => {
        if (!opened)
          fail(new GatewayClientError(`cannot connect to ${safeUrl(url)} (connection refused?)`, "connect"));
      };
      ws.onclose = (ev) => {
        this.closed = true;
        const err = new GatewayClientError(
          `connection closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ""})`,
          "closed",
          String(ev.code),
        );
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        if (!settled)
          fail(opened ? err : new GatewayClientError(`cannot connect to ${safeUrl(url)}`, "connect"));
        this.opts.onClose?.(ev.code, ev.reason);
      };
    });
  }

  request<T = unknown>(method: string, params?: unknown): Promise<T> {
    const ws = this.ws;
    if (!ws || this.closed) return Promise.reject(new GatewayClientError("not connected", "closed"));
    const id = `r${++this.nextId}`;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      ws.send(JSON.stringify({ type: "req", id, method, ...(params !== undefined ? { params } : {}) }));
    });
  }

  close(): void {
    this.closed = true;
    try {
      this.ws?.close(1000, "bye");
    } catch {
      /* ignore */
    }
  }
}

/** A URL for messages: never its query string or fragment (they may carry a token). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return "<invalid url>";
  }
}
