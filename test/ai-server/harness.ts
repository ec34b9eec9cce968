/**
 * AI server test harness: the real app (createApp) on Bun.serve port 0, the real SDKs pointed at
 * the upstream simulator, a real SQLite store in a temp dir and an in-memory log. Plus a small
 * SSE reader for the /chat stream.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll } from "bun:test";
import OpenAI from "openai";
import { type AppSettings, createApp } from "../../src/ai-server/app.ts";
import { createProviderRegistry, type UpstreamSettings } from "../../src/ai-server/providers/index.ts";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import type { Provider } from "../../src/shared/chat-api.ts";
import { createLogger, memoryDestination } from "../../src/shared/log.ts";
import { dbPath, openStore, type Store } from "../../src/shared/store/index.ts";
import { tempDir } from "../helpers/index.ts";

export const SIM_KEY = "sim-secret-key-0123";

export const BASE_SETTINGS: AppSettings = {
  defaultModel: "anthropic/sim",
  fallbackModels: [],
  extraModels: [],
  maxBodyBytes: 1 << 20,
  keepAliveMs: 15_000,
  connectTimeoutMs: 5_000,
  firstTokenTimeoutMs: 5_000,
  idleTimeoutMs: 5_000,
  responseTimeoutMs: 10_000,
  totalTimeoutMs: 30_000,
  maxRetries: 2,
};

export function directUpstream(
  sim: UpstreamSim,
  keys: UpstreamSettings["keys"] = { anthropic: SIM_KEY, openai: SIM_KEY, google: SIM_KEY },
): UpstreamSettings {
  return { keys, baseUrls: { anthropic: sim.url, openai: `${sim.url}/v1`, google: sim.url } };
}

export interface TestAiServer {
  url: string;
  store: Store;
  dataDir: string;
  logs: ReturnType<typeof memoryDestination>;
  usageRows(): Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startTestAiServer(
  sim: UpstreamSim,
  settings: Partial<AppSettings> = {},
  upstream: UpstreamSettings = directUpstream(sim),
  serve: { idleTimeoutS?: number; holdOpen?: boolean } = {},
): Promise<TestAiServer> {
  const dir = tempDir("pipbot-ai-");
  const store = openStore(dir.path);
  const logs = memoryDestination();
  const logger = createLogger({ proc: "ai", level: "debug", destination: logs, secrets: [SIM_KEY] });
  const registry = createProviderRegistry(upstream);
  let server: ReturnType<typeof Bun.serve> | undefined;
  const app = createApp({
    settings: { ...BASE_SETTINGS, ...settings },
    registry,
    store,
    logger,
    simulator: true,
    ...(serve.holdOpen === false
      ? {}
      : {
          // As main.ts: lift the idle timeout for the request, restore it as the reply ends.
          holdOpen: (req: Request) => {
            server?.timeout(req, 0);
            return () => server?.timeout(req, serve.idleTimeoutS ?? 10);
          },
        }),
  });
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    ...(serve.idleTimeoutS !== undefined ? { idleTimeout: serve.idleTimeoutS } : {}),
    fetch: (req) => app.fetch(req),
  });
  const s = server;
  return {
    url: `http://127.0.0.1:${s.port}`,
    store,
    dataDir: dir.path,
    logs,
    usageRows() {
      // Written in batches (usage-writer.ts): flush the server's queue, then read as another connection.
      store.flushUsage();
      const db = new Database(dbPath(dir.path), { readonly: true });
      try {
        return db.query("SELECT * FROM usage ORDER BY id").all() as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
    async stop() {
      await s.stop(true);
      store.close();
      dir.cleanup();
    },
  };
}

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Parse a whole SSE text into events (comments counted separately). */
export function parseSse(text: string): { events: SseEvent[]; comments: string[] } {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  for (const frame of text.split("\n\n")) {
    if (!frame.trim()) continue;
    let event = "message";
    const data: string[] = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith(":")) comments.push(line.slice(1).trim());
      else if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trim());
    }
    if (data.length) {
      const raw = data.join("\n");
      let parsed: unknown = raw;
      try {
        parsed = JSON.parse(raw);
      } catch {
        /* [DONE] */
      }
      events.push({ event, data: parsed });
    }
  }
  return { events, comments };
}

/** Read a streaming response incrementally; `until` sees the text so far. */
export async function readUntil(res: Response, until: (text: string) => boolean): Promise<string> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
    if (until(text)) break;
  }
  reader.releaseLock();
  return text;
}

export function postChat(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${url}/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

let keySeq = 0;
/** A unique simulator `key=` so fail_times counters never collide between tests. */
export const uniqueKey = (p = "k") => `${p}${Date.now().toString(36)}${++keySeq}`;

export interface FakeProviderServer {
  /** The AI server; `provider`'s base URL is the fake, the simulator serves the others. */
  server: TestAiServer;
  sim: UpstreamSim;
  fake: ReturnType<typeof Bun.serve>;
  /** The openai SDK on the AI server's /v1 (the server's token, when settings set one). */
  openai: OpenAI;
}

/**
 * For a file's tests: a test-local fake of one provider's wire (Bun.serve on port 0 answering with
 * `fetch`: shapes the simulator never produces — refusals, blocked prompts, a provider's own error
 * bodies) behind the real AI server. Started before the file's tests, stopped after them.
 */
export function fakeProviderServer(
  provider: Provider,
  fetch: (req: Request) => Response | Promise<Response>,
  settings: Partial<AppSettings> = {},
): FakeProviderServer {
  const t = {} as FakeProviderServer;
  beforeAll(async () => {
    t.sim = await startUpstreamSim();
    t.fake = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch });
    const up = directUpstream(t.sim);
    const base = `http://127.0.0.1:${t.fake.port}`;
    up.baseUrls = { ...up.baseUrls, [provider]: provider === "openai" ? `${base}/v1` : base };
    t.server = await startTestAiServer(t.sim, settings, up);
    t.openai = new OpenAI({ apiKey: settings.token ?? "any", baseURL: `${t.server.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await t.server.stop();
    await t.fake.stop(true);
    await t.sim.stop();
  });
  return t;
}
