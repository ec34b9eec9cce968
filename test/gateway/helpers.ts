/**
 * Gateway test kit: an in-process gateway on port 0 with a real SQLite store in a temp dir, a
 * fake AI server that speaks the exact `/chat` SSE contract (for fast, controllable runs), and a
 * raw WebSocket client (`ws`) that records every frame for strict assertions.
 */
import { afterAll, afterEach, beforeAll } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import WebSocket from "ws";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { createGateway, type Gateway, type GatewaySettings } from "../../src/gateway/app.ts";
import { formatStreamEvent } from "../../src/shared/chat-stream.ts";
import { createLogger, memoryDestination } from "../../src/shared/log.ts";
import { LogRing } from "../../src/shared/log-ring.ts";
import { openStore, type Store } from "../../src/shared/store/index.ts";
import {
  childEnv,
  freePort,
  ROOT,
  type RunningProcess,
  spawnPipbot,
  tempDir,
  waitFor,
} from "../helpers/index.ts";

export const TOKEN = "test-gateway-token-123";

// ---- the published protocol schema ----------------------------------------------------------------

const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema({
  ...(JSON.parse(
    readFileSync(join(ROOT, "node_modules/@openclaw/gateway-protocol/protocol.schema.json"), "utf8"),
  ) as object),
  $id: "openclaw",
});

/** Validate `value` against a definition of @openclaw/gateway-protocol's schema: null, or the errors. */
export function validate(def: string, value: unknown): string | null {
  const v = ajv.getSchema(`openclaw#/definitions/${def}`);
  if (!v) throw new Error(`no schema ${def}`);
  return v(value) ? null : JSON.stringify(v.errors);
}

// ---- fake AI server ------------------------------------------------------------------------------

export interface FakeAiRequest {
  body: {
    model?: string;
    messages: { role: string; content: string | Record<string, unknown>[] }[];
    metadata?: { conversationId?: string };
  };
  headers: Headers;
  aborted: boolean;
  done: boolean;
}

/**
 * A `/chat` SSE server. The reply is `You said: <last user text>.` followed by `words` filler
 * words, one per delta, `delayMs` apart. Behaviour switches ride in the last user message:
 * `[error_after:N]` (in-stream error event), `[cut_after:N]` (connection dropped), `[slow]`
 * (200 words, 20 ms apart), `[http500]`, `[fail_first]` (HTTP 502 the first time this exact text
 * is the last user message, a normal reply after), `[ratelimit]`, `[hold]` (after the first delta the stream
 * waits until the test calls `release()`).
 */
export async function startFakeAi(opts: { words?: number; delayMs?: number } = {}) {
  const requests: FakeAiRequest[] = [];
  const failedOnce = new Set<string>();
  let gate = Promise.withResolvers<void>();
  const enc = new TextEncoder();
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/healthz") return Response.json({ ok: true, mode: "direct", simulator: true });
      // The AI server's OpenAI-compatible model list (default first), as GET /v1/models answers.
      if (path === "/v1/models")
        return Response.json({
          object: "list",
          data: [{ id: "anthropic/fake", object: "model", created: 0, owned_by: "anthropic" }],
        });
      if (path !== "/chat" || req.method !== "POST") return new Response("nf", { status: 404 });
      const body = (await req.json()) as FakeAiRequest["body"];
      const rec: FakeAiRequest = { body, headers: req.headers, aborted: false, done: false };
      requests.push(rec);
      const lastContent = [...body.messages].reverse().find((m) => m.role === "user")?.content ?? "";
      // With attachments the content is parts: the reply echoes its text parts.
      const last =
        typeof lastContent === "string"
          ? lastContent
          : lastContent.map((p) => (p.type === "text" ? String(p.text) : "")).join("");
      const failFirst = last.includes("[fail_first]") && !failedOnce.has(last);
      if (failFirst) failedOnce.add(last);
      if (last.includes("[http500]") || failFirst) {
        rec.done = true;
        return Response.json(
          { error: { code: "upstream_error", message: "boom", retryable: true } },
          { status: 502 },
        );
      }
      if (last.includes("[ratelimit]")) {
        rec.done = true;
        return Response.json(
          { error: { code: "rate_limited", message: "slow down", retryable: true, retryAfterMs: 1000 } },
          { status: 429 },
        );
      }
      const slow = last.includes("[slow]");
      const words = slow ? 200 : (opts.words ?? 5);
      const delayMs = slow ? 20 : (opts.delayMs ?? 0);
      const errorAfter = /\[error_after:(\d+)\]/.exec(last)?.[1];
      const cutAfter = /\[cut_after:(\d+)\]/.exec(last)?.[1];
      const hold = last.includes("[hold]") ? gate.promise : undefined;
      const chunks = [`You said: ${last}.`, ...Array.from({ length: words }, (_, i) => ` w${i + 1}`)];
      const signal = req.signal;
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          const send = (s: string) => controller.enqueue(enc.encode(s));
          send(
            formatStreamEvent({
              type: "start",
              data: { id: "r1", provider: "anthropic", model: "anthropic/fake" },
            }),
          );
          let text = "";
          for (let i = 0; i < chunks.length; i++) {
            if (signal.aborted) {
              rec.aborted = true;
              controller.close();
              return;
            }
            if (errorAfter !== undefined && i === Number(errorAfter)) {
              send(
                formatStreamEvent({
                  type: "error",
                  data: { code: "upstream_error", message: "provider failed mid-stream", retryable: true },
                }),
              );
              rec.done = true;
              controller.close();
              return;
            }
            if (cutAfter !== undefined && i === Number(cutAfter)) {
              rec.done = true;
              controller.error(new Error("cut"));
              return;
            }
            if (hold && i === 1) await hold;
            text += chunks[i];
            send(formatStreamEvent({ type: "delta", data: { text: chunks[i] as string } }));
            if (delayMs > 0) await Bun.sleep(delayMs);
          }
          send(
            formatStreamEvent({
              type: "done",
              data: {
                message: { role: "assistant", content: [{ type: "text", text }] },
                stopReason: "end_turn",
                usage: {
                  inputTokens: 3,
                  outputTokens: chunks.length,
                  cacheReadTokens: 0,
                  cacheWriteTokens: 0,
                  reasoningTokens: 0,
                },
              },
            }),
          );
          rec.done = true;
          controller.close();
        },
        cancel() {
          rec.aborted = true;
        },
      });
      signal.addEventListener("abort", () => {
        rec.aborted = true;
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    /** Let every `[hold]` stream waiting after its first delta go on. */
    release: () => {
      gate.resolve();
      gate = Promise.withResolvers<void>();
    },
    stop: () => server.stop(true),
  };
}

// ---- in-process gateway --------------------------------------------------------------------------

export interface TestGateway {
  gw: Gateway;
  port: number;
  wsUrl: string;
  httpUrl: string;
  store: Store;
  dataDir: string;
  logs: ReturnType<typeof memoryDestination>;
  /** The same lines as `logs`, as the gateway's `logs.tail` serves them. */
  logRing: LogRing;
  stop(): Promise<void>;
}

export async function startTestGateway(
  opts: { aiUrl: string; settings?: Partial<GatewaySettings>; tickIntervalMs?: number; token?: string } = {
    aiUrl: "http://127.0.0.1:9",
  },
): Promise<TestGateway> {
  const dir = tempDir("pipbot-gw-");
  const store = openStore(dir.path);
  const logs = memoryDestination();
  const logRing = new LogRing();
  const logger = createLogger({
    proc: "gateway",
    level: "debug",
    destination: logs,
    pretty: false,
    tee: logRing,
  });
  const config: GatewaySettings = {
    AI_URL: opts.aiUrl,
    SYNC_STATUS_PORT: 1,
    GATEWAY_DELTA_WINDOW_MS: 30,
    GATEWAY_CONTEXT_BUDGET_CHARS: 400_000,
    GATEWAY_RUN_TIMEOUT_MS: 60_000,
    GATEWAY_HANDSHAKE_TIMEOUT_MS: 10_000,
    GATEWAY_MAX_BUFFERED_BYTES: 2 * 1024 * 1024,
    GATEWAY_AUTH_MAX_FAILURES: 10,
    ...opts.settings,
  };
  const token = opts.token ?? TOKEN;
  logger.redactor.add([token]);
  const gw = createGateway({
    config,
    token,
    logger,
    store,
    version: "test",
    logRing,
    dataDir: dir.path,
    ...(opts.tickIntervalMs ? { tickIntervalMs: opts.tickIntervalMs } : {}),
  });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: gw.fetch, websocket: gw.websocket });
  let stopped = false;
  return {
    gw,
    port: server.port as number,
    wsUrl: `ws://127.0.0.1:${server.port}`,
    httpUrl: `http://127.0.0.1:${server.port}`,
    store,
    dataDir: dir.path,
    logs,
    logRing,
    async stop() {
      if (stopped) return;
      stopped = true;
      await gw.stop();
      await server.stop(true);
      store.close();
      dir.cleanup();
    },
  };
}

// ---- raw client -----------------------------------------------------------------------------------

export type Frame = Record<string, unknown> & { type: string };

export class RawClient {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  closed: { code: number; reason: string } | null = null;
  private nextId = 0;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const text = data.toString();
      this.raw.push(text);
      try {
        this.frames.push(JSON.parse(text) as Frame);
      } catch {
        /* recorded raw */
      }
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    ws.on("error", () => {});
  }

  static async open(url: string, headers?: Record<string, string>): Promise<RawClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...(headers ? { headers } : {}) });
    const c = new RawClient(ws);
    await new Promise<void>((res, rej) => {
      ws.once("open", () => res());
      ws.once("error", rej);
    });
    return c;
  }

  send(obj: unknown): void {
    this.ws.send(typeof obj === "string" ? obj : JSON.stringify(obj));
  }

  req(method: string, params?: unknown): string {
    const id = `q${++this.nextId}`;
    this.send({ type: "req", id, method, ...(params !== undefined ? { params } : {}) });
    return id;
  }

  async response(id: string, timeoutMs = 10_000): Promise<Frame> {
    return waitFor(() => this.frames.find((f) => f.type === "res" && f.id === id), {
      timeoutMs,
      what: `response ${id}`,
    });
  }

  async call(method: string, params?: unknown): Promise<Frame> {
    return this.response(this.req(method, params));
  }

  /** `chat.send` of `message` with `idempotencyKey` in `sessionKey`; the response frame. */
  async chatSend(sessionKey: string, message: string, idempotencyKey: string): Promise<Frame> {
    return this.call("chat.send", { sessionKey, message, idempotencyKey });
  }

  events(name?: string): Frame[] {
    return this.frames.filter((f) => f.type === "event" && (name === undefined || f.event === name));
  }

  chat(runId: string): Record<string, unknown>[] {
    return this.events("chat")
      .map((f) => f.payload as Record<string, unknown>)
      .filter((p) => p.runId === runId);
  }

  async terminal(runId: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    return waitFor(
      () => this.chat(runId).find((p) => p.state === "final" || p.state === "error" || p.state === "aborted"),
      { timeoutMs, what: `terminal chat event of ${runId}` },
    );
  }

  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closed, { timeoutMs, what: "socket close" });
  }

  /** Wait for the challenge, send connect, return the hello response frame. */
  async handshake(params: Record<string, unknown> = {}): Promise<Frame> {
    await waitFor(() => this.events("connect.challenge")[0], { what: "connect.challenge" });
    return this.call("connect", {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: "test", version: "1", platform: "linux", mode: "test" },
      auth: { token: TOKEN },
      ...params,
    });
  }

  close(): void {
    try {
      this.ws.close();
    } catch {
      /* ignore */
    }
  }
}

/** Connect and authenticate (protocol 4 unless overridden). */
export async function connected(url: string, params: Record<string, unknown> = {}): Promise<RawClient> {
  const c = await RawClient.open(url);
  const hello = await c.handshake(params);
  if (hello.ok !== true) throw new Error(`handshake failed: ${JSON.stringify(hello.error)}`);
  return c;
}

/** True when GET `url` answers 2xx (false while the server is not up yet). */
export async function httpOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

// ---- per-file harness -----------------------------------------------------------------------------

export type FakeAi = Awaited<ReturnType<typeof startFakeAi>>;

/**
 * The setup every gateway test file shares: one fake AI server for the file, a fresh gateway per
 * test (`start`), and everything opened through the harness closed after each test.
 */
export function gatewayHarness(fakeAiOpts: Parameters<typeof startFakeAi>[0] = {}) {
  let ai: FakeAi | undefined;
  let current: TestGateway | undefined;
  const clients: { close(): void }[] = [];
  const cleanups: (() => unknown)[] = [];
  beforeAll(async () => {
    ai = await startFakeAi(fakeAiOpts);
  });
  afterAll(async () => {
    await ai?.stop();
  });
  afterEach(async () => {
    ai?.release();
    for (const c of clients.splice(0)) c.close();
    for (const f of cleanups.splice(0).reverse()) await f();
    await current?.stop();
    current = undefined;
  });
  const h = {
    get ai(): FakeAi {
      if (!ai) throw new Error("the fake AI server is not started (use the harness inside a test)");
      return ai;
    },
    get t(): TestGateway {
      if (!current) throw new Error("no gateway: call start() first");
      return current;
    },
    /** A fresh in-process gateway on port 0 talking to the fake AI server (unless aiUrl is given). */
    async start(opts: Partial<Parameters<typeof startTestGateway>[0]> = {}): Promise<TestGateway> {
      await current?.stop();
      current = await startTestGateway({ ...opts, aiUrl: opts.aiUrl || h.ai.url });
      return current;
    },
    /** An authenticated raw client (closed after the test). */
    async connect(params: Record<string, unknown> = {}, url?: string): Promise<RawClient> {
      return h.track(await connected(url ?? h.t.wsUrl, params));
    },
    /** An open, not yet authenticated raw client (closed after the test). */
    async open(headers?: Record<string, string>): Promise<RawClient> {
      return h.track(await RawClient.open(h.t.wsUrl, headers));
    },
    track<T extends { close(): void }>(c: T): T {
      clients.push(c);
      return c;
    },
    /** Run `f` after the test (before the gateway stops), last registered first. */
    defer(f: () => unknown): void {
      cleanups.push(f);
    },
  };
  return h;
}

/** `pipbot gateway` as a child process, returned once its /healthz answers on `port`. */
export async function spawnGateway(
  env: Record<string, string>,
  port: number,
  what = "gateway up",
): Promise<RunningProcess> {
  const p = spawnPipbot(["gateway"], env);
  await waitFor(() => httpOk(`http://127.0.0.1:${port}/healthz`), { timeoutMs: 20_000, what }).catch(
    (e: Error) => {
      p.kill("SIGKILL");
      throw new Error(`${e.message}\n${p.output()}`);
    },
  );
  return p;
}

/** The upstream simulator and a real `pipbot ai` on it (anthropic/sim), ready; `stop()` ends both. */
export interface SimAiServer {
  sim: UpstreamSim;
  ai: RunningProcess;
  /** http://127.0.0.1:<port> of the AI server. */
  url: string;
  stop(): Promise<void>;
}

export async function startSimAiServer(opts: {
  token: string;
  dirPrefix: string;
  /** More AI server variables (e.g. AI_MODELS). */
  env?: Record<string, string>;
}): Promise<SimAiServer> {
  const sim = await startUpstreamSim();
  const dir = tempDir(opts.dirPrefix);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const ai = spawnPipbot(
    ["ai"],
    childEnv({
      AI_PORT: String(port),
      DATA_DIR: dir.path,
      ANTHROPIC_BASE_URL: sim.url,
      ANTHROPIC_API_KEY: "sim",
      AI_DEFAULT_MODEL: "anthropic/sim",
      PIPBOT_SIMULATOR: "1",
      // As in the separate deployment: the AI server demands the bearer token.
      AI_SERVER_TOKEN: opts.token,
      ...opts.env,
    }),
  );
  const stop = async () => {
    ai.kill("SIGTERM");
    await ai.exited;
    await sim.stop();
    dir.cleanup();
  };
  try {
    await waitFor(() => httpOk(`${url}/healthz`), { timeoutMs: 20_000, what: "AI server /healthz" });
  } catch (e) {
    await stop();
    throw e;
  }
  return { sim, ai, url, stop };
}
