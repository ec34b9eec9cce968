/**
 * The chaos suite's chat client: a protocol-4 WebSocket client (the `ws` library, as OpenClaw's
 * own clients use) that connects with the gateway token, sends `chat.send` and collects the `chat`
 * events of its runs. Small on purpose: it must survive the gateway dying under it at any moment.
 */
import WebSocket from "ws";

type Frame = Record<string, unknown> & { type: string };

export const TERMINAL_EVENT_STATES = new Set(["final", "error", "aborted"]);
/** chat.send answers for a run that already ended (an idempotent re-send). */
export const TERMINAL_SEND_STATUSES = new Set(["ok", "error", "aborted"]);

export class ChaosClient {
  private readonly waiters = new Map<string, (f: Frame) => void>();
  /** Terminal `chat` event state per runId, as seen on this connection. */
  readonly terminal = new Map<string, string>();
  closed = false;
  private nextId = 0;

  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (data) => {
      let f: Frame;
      try {
        f = JSON.parse(data.toString()) as Frame;
      } catch {
        return;
      }
      if (f.type === "res" && typeof f.id === "string") this.waiters.get(f.id)?.(f);
      if (f.type === "event" && f.event === "chat") {
        const p = f.payload as { runId?: string; state?: string };
        if (p.runId && p.state && TERMINAL_EVENT_STATES.has(p.state)) this.terminal.set(p.runId, p.state);
      }
      if (f.type === "event" && f.event === "connect.challenge") this.waiters.get("challenge")?.(f);
    });
    ws.on("close", () => {
      this.closed = true;
      for (const w of this.waiters.values()) w({ type: "closed" });
    });
    ws.on("error", () => {});
  }

  /** Open and authenticate; throws when the gateway is not there (yet). */
  static async connect(url: string, token: string, timeoutMs = 5_000): Promise<ChaosClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const c = new ChaosClient(ws);
    const challenge = c.wait("challenge", timeoutMs);
    challenge.catch(() => {}); // awaited below; a failed open must not leave it unhandled
    try {
      await new Promise<void>((res, rej) => {
        ws.once("open", () => res());
        ws.once("error", rej);
        ws.once("close", () => rej(new Error("closed before open")));
      });
    } catch (e) {
      c.close();
      throw e;
    }
    await challenge;
    const hello = await c.call(
      "connect",
      {
        minProtocol: 4,
        maxProtocol: 4,
        client: { id: "chaos", version: "1", platform: "linux", mode: "test" },
        auth: { token },
      },
      timeoutMs,
    );
    if (hello.ok !== true) {
      c.close();
      throw new Error(`handshake failed: ${JSON.stringify(hello.error ?? hello)}`);
    }
    return c;
  }

  private wait(id: string, timeoutMs: number): Promise<Frame> {
    return new Promise((res, rej) => {
      const t = setTimeout(() => {
        this.waiters.delete(id);
        rej(new Error(`no answer to ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, (f) => {
        clearTimeout(t);
        this.waiters.delete(id);
        if (f.type === "closed") rej(new Error("connection closed"));
        else res(f);
      });
    });
  }

  /** One request; rejects when the connection closes or no answer comes in time. */
  call(method: string, params: unknown, timeoutMs = 10_000): Promise<Frame> {
    if (this.closed) return Promise.reject(new Error("connection closed"));
    const id = `c${++this.nextId}`;
    const answer = this.wait(id, timeoutMs);
    this.ws.send(JSON.stringify({ type: "req", id, method, params }));
    return answer;
  }

  close(): void {
    try {
      this.ws.terminate();
    } catch {
      /* already gone */
    }
    this.closed = true;
  }
}
