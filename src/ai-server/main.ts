/**
 * `pipbot ai`: the AI server process. The only file of the AI server that reads the environment,
 * calls Bun.serve and installs signal handlers; the HTTP app is app.ts, the engine chat.ts.
 */

import { mkdirSync } from "node:fs";
import { abortableSleep } from "../shared/backoff.ts";
import { parseCommandArgs } from "../shared/cli-args.ts";
import {
  type AiConfig,
  aiEnv,
  aiUpstream,
  convexSiteUrl,
  loadConfigOrExit,
  noProviderProblem,
  secretValues,
} from "../shared/config/index.ts";
import { identity } from "../shared/identity.ts";
import { INSTANCE_VAR, withInstanceHeader } from "../shared/instance.ts";
import { createLogger, type PipbotLogger } from "../shared/log.ts";
import { onStopSignals, type StopReason } from "../shared/stop-signals.ts";
import { openStore, type Store } from "../shared/store/index.ts";
import { logUsageProblem } from "./accounting.ts";
import { type AppSettings, createApp } from "./app.ts";
import { createProviderRegistry, type UpstreamSettings } from "./providers/index.ts";

const USAGE = `usage: pipbot ai

Runs the AI server on AI_HOST:AI_PORT (default 127.0.0.1:3000): POST /chat,
POST /v1/chat/completions, POST /v1/messages, GET /v1/models, GET /usage, GET /healthz.
Upstream: AI_UPSTREAM (proxy: the Convex usage proxy; direct: the providers with
ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN, OPENAI_API_KEY / OPENAI_BASE_URL, GEMINI_API_KEY /
GOOGLE_APPLICATION_CREDENTIALS_JSON); unset: proxy when CONVEX_URL, PIPBOT_SERVICE_TOKEN and
CLERK_USER_ID are set. See docs/AI-SERVER.md.`;

/** Bun.serve idle timeout (s) for connections between requests; lifted during each chat request. */
const IDLE_TIMEOUT_S = 120;

/** After the drain deadline: how long the `shutting_down` error events get to reach the callers. */
const FLUSH_MS = 1_000;

const after = (ms: number) => abortableSleep(ms).then(() => "deadline" as const);

/** A service-account key file's JSON (GOOGLE_APPLICATION_CREDENTIALS_JSON) → Vertex settings; throws a clear message. */
function vertexSettings(c: AiConfig): NonNullable<UpstreamSettings["vertex"]> {
  let credentials: Record<string, unknown>;
  try {
    credentials = JSON.parse(c.GOOGLE_APPLICATION_CREDENTIALS_JSON ?? "") as Record<string, unknown>;
  } catch {
    throw new Error(
      "GOOGLE_APPLICATION_CREDENTIALS_JSON is not valid JSON: paste the service-account key file's contents",
    );
  }
  const project =
    c.GOOGLE_CLOUD_PROJECT ?? (typeof credentials.project_id === "string" ? credentials.project_id : "");
  if (!project)
    throw new Error("GOOGLE_CLOUD_PROJECT is required: the service-account JSON has no project_id");
  return { project, location: c.GOOGLE_CLOUD_LOCATION, credentials };
}

export function upstreamSettings(c: AiConfig): UpstreamSettings {
  const site = convexSiteUrl(c);
  const anthropicKey = c.ANTHROPIC_API_KEY ?? c.ANTHROPIC_AUTH_TOKEN;
  const s: UpstreamSettings = {
    keys: {
      ...(anthropicKey ? { anthropic: anthropicKey } : {}),
      ...(c.OPENAI_API_KEY ? { openai: c.OPENAI_API_KEY } : {}),
      ...(c.GEMINI_API_KEY ? { google: c.GEMINI_API_KEY } : {}),
    },
    baseUrls: {
      ...(c.ANTHROPIC_BASE_URL ? { anthropic: c.ANTHROPIC_BASE_URL } : {}),
      ...(c.OPENAI_BASE_URL ? { openai: c.OPENAI_BASE_URL } : {}),
      ...(c.GOOGLE_GEMINI_BASE_URL ? { google: c.GOOGLE_GEMINI_BASE_URL } : {}),
    },
    ...(!c.ANTHROPIC_API_KEY && c.ANTHROPIC_AUTH_TOKEN ? { anthropicBearer: true } : {}),
    ...(!c.GEMINI_API_KEY && c.GOOGLE_APPLICATION_CREDENTIALS_JSON ? { vertex: vertexSettings(c) } : {}),
  };
  if (aiUpstream(c).mode === "proxy" && site && c.PIPBOT_SERVICE_TOKEN && c.CLERK_USER_ID)
    s.proxy = {
      siteUrl: site,
      serviceToken: c.PIPBOT_SERVICE_TOKEN,
      userId: c.CLERK_USER_ID,
      ...(c.FLY_MACHINE_ID ? { machineId: c.FLY_MACHINE_ID } : {}),
    };
  return s;
}

export function appSettings(c: AiConfig): AppSettings {
  return {
    ...(c.AI_SERVER_TOKEN ? { token: c.AI_SERVER_TOKEN } : {}),
    defaultModel: c.AI_DEFAULT_MODEL,
    ...(c.AI_DEFAULT_PROVIDER ? { defaultProvider: c.AI_DEFAULT_PROVIDER } : {}),
    fallbackModels: c.AI_FALLBACK_MODELS,
    extraModels: c.AI_MODELS,
    maxBodyBytes: c.AI_MAX_BODY_BYTES,
    keepAliveMs: c.AI_KEEPALIVE_MS,
    connectTimeoutMs: c.AI_CONNECT_TIMEOUT_MS,
    firstTokenTimeoutMs: c.AI_FIRST_TOKEN_TIMEOUT_MS,
    idleTimeoutMs: c.AI_IDLE_TIMEOUT_MS,
    responseTimeoutMs: c.AI_RESPONSE_TIMEOUT_MS,
    totalTimeoutMs: c.AI_TOTAL_TIMEOUT_MS,
    maxRetries: c.AI_MAX_RETRIES,
  };
}

function openDataStore(dataDir: string, log: PipbotLogger): Store | null {
  try {
    mkdirSync(dataDir, { recursive: true });
    return openStore(dataDir, { onUsageProblem: (p) => logUsageProblem(log, p) });
  } catch (e) {
    log.fatal(
      { err: (e as Error).message, dataDir },
      "cannot open the store: set DATA_DIR to a writable directory",
    );
    return null;
  }
}

export async function main(argv: string[]): Promise<number> {
  parseCommandArgs(argv, {}, USAGE);
  const config = loadConfigOrExit(aiEnv);
  const log = createLogger({ proc: "ai", level: config.LOG_LEVEL, secrets: secretValues(process.env) });
  let upstream: UpstreamSettings;
  try {
    upstream = upstreamSettings(config);
  } catch (e) {
    log.fatal({ err: (e as Error).message }, "invalid AI configuration");
    return 78;
  }
  const registry = createProviderRegistry(upstream);
  const simulator = config.PIPBOT_SIMULATOR;
  log.info(
    {
      event: "identity",
      ...identity(["ai"]),
      upstream: registry.mode,
      providers: registry.configured,
      defaultModel: config.AI_DEFAULT_MODEL,
      simulator,
    },
    simulator ? "pipbot ai starting (upstream: local simulator)" : "pipbot ai starting",
  );
  // Started anyway (health and usage still answer), but never silently: every chat would fail.
  const none = noProviderProblem(config);
  if (none) log.warn({ variable: none.variable }, `${none.message}. Fix: ${none.fix}`);

  const store = openDataStore(config.DATA_DIR, log);
  if (!store) return 1;
  // Usage rows are written in batches (≤ 100 ms late): whatever ends the process — the forced
  // stop's process.exit, an uncaught error — writes the queued rows first (bun:sqlite is sync).
  const flushUsageOnExit = () => store.flushUsage();
  process.on("exit", flushUsageOnExit);

  const holder: { server?: ReturnType<typeof Bun.serve> } = {};
  const shutdown = new AbortController();
  const app = createApp({
    shutdown: shutdown.signal,
    settings: appSettings(config),
    registry,
    store,
    logger: log,
    simulator,
    holdOpen: (req) => {
      holder.server?.timeout(req, 0);
      return () => holder.server?.timeout(req, IDLE_TIMEOUT_S);
    },
  });
  let listening: ReturnType<typeof Bun.serve> | undefined;
  try {
    listening = Bun.serve({
      hostname: config.AI_HOST,
      port: config.AI_PORT,
      idleTimeout: IDLE_TIMEOUT_S,
      fetch: withInstanceHeader((req: Request) => app.fetch(req), process.env[INSTANCE_VAR]),
    });
  } catch (e) {
    log.fatal(
      { err: (e as Error).message, host: config.AI_HOST, port: config.AI_PORT },
      `cannot listen on ${config.AI_HOST}:${config.AI_PORT}: set AI_PORT to a free port`,
    );
  }
  if (!listening) {
    process.off("exit", flushUsageOnExit);
    store.close();
    return 1;
  }
  const server = listening;
  holder.server = server;
  log.info(
    { host: config.AI_HOST, port: server.port, mode: registry.mode, simulator },
    `AI server listening on ${config.AI_HOST}:${server.port}`,
  );

  const { promise: stopRequested, resolve: requestStop } = Promise.withResolvers<StopReason>();
  const offStop = onStopSignals(
    {
      graceful: requestStop,
      force: (why) => {
        log.warn({ signal: why, inFlight: server.pendingRequests }, `received ${why} again; exiting now`);
        shutdown.abort();
        process.exit(1);
      },
    },
    { env: process.env },
  );
  const signal = await stopRequested;
  log.info(
    { signal, inFlight: server.pendingRequests, drainMs: config.AI_DRAIN_MS },
    "stopping: draining in-flight requests",
  );
  // No new connections; idle keep-alive connections close now; in-flight requests may finish.
  const stopped = server.stop(false).then(() => "stopped" as const);
  if ((await Promise.race([stopped, after(config.AI_DRAIN_MS)])) === "deadline") {
    // Still running after AI_DRAIN_MS: end them with a retryable shutting_down error (an SSE
    // `error` event, a 503 for non-stream) well before the supervisor's SIGKILL, then close.
    log.warn(
      { inFlight: server.pendingRequests, drainMs: config.AI_DRAIN_MS },
      "drain deadline: ending in-flight requests with shutting_down",
    );
    shutdown.abort();
    if ((await Promise.race([stopped, after(FLUSH_MS)])) === "deadline") await server.stop(true);
  }
  // A non-stream reply records its usage in a setImmediate after the response: let it run, then
  // close, which writes every queued usage row.
  await new Promise((resolve) => setImmediate(resolve));
  process.off("exit", flushUsageOnExit);
  store.close();
  offStop();
  log.info({ signal }, "AI server stopped");
  return 0;
}
