/**
 * The AI server's HTTP app (Hono): POST /chat, POST /v1/chat/completions, POST /v1/messages (and
 * /v1/messages/count_tokens, count-tokens.ts), GET /v1/models,
 * GET /usage, GET /healthz. A function of its dependencies — no port, no env — so tests drive it
 * with `app.request()` or Bun.serve on port 0. One onError; errors in the one error shape
 * (OpenAI's shape under /v1/).
 */

import { Hono } from "hono";
import { type ChatRequest, chatRequestSchema } from "../shared/chat-api.ts";
import { errorResponse, PipbotError, toPipbotError } from "../shared/errors.ts";
import { PIPBOT_HEADERS } from "../shared/headers.ts";
import type { Logger } from "../shared/log.ts";
import { bearerToken, secureEqual } from "../shared/secure-compare.ts";
import type { Store } from "../shared/store/index.ts";
import { account } from "./accounting.ts";
import { anthropicErrorResponse, anthropicFraming, messageBody } from "./anthropic-compat.ts";
import { anthropicModel, betasOf, fromAnthropic } from "./anthropic-request.ts";
import { anthropicRequestSchema } from "./anthropic-schema.ts";
import { type ChatPlan, type EngineConfig, runChat } from "./chat.ts";
import { fromChatRequest } from "./chat-request.ts";
import { countTokensResponse } from "./count-tokens.ts";
import { listedModels, type ModelDefaults } from "./models.ts";
import { modelsList, oneModel } from "./models-api.ts";
import { completionBody, openaiErrorResponse, openaiFraming } from "./openai-compat.ts";
import { fromOpenAI } from "./openai-request.ts";
import { known, openaiRequestSchema } from "./openai-schema.ts";
import type { ProviderRegistry } from "./providers/index.ts";
import { ReplyMemory } from "./reply-memory.ts";
import { fieldValidator, readJsonBody } from "./request-body.ts";
import { type Normalized, planRequest, wantsDrop } from "./request-plan.ts";
import { chatFraming, chatResponseBody, type SseFraming, sseResponse } from "./sse.ts";
import { usageResponse } from "./usage-query.ts";

export interface AppSettings extends EngineConfig, ModelDefaults {
  token?: string;
  fallbackModels: string[];
  extraModels: string[];
  maxBodyBytes: number;
  keepAliveMs: number;
}

export interface AppDeps {
  settings: AppSettings;
  registry: ProviderRegistry;
  store: Pick<Store, "recordUsage" | "usageTotals"> | null;
  logger: Logger;
  simulator: boolean;
  /**
   * Lift the server's idle timeout for a long request (main.ts: `server.timeout(req, 0)`). May
   * return a function that restores it; it is called as the reply ends, so the keep-alive
   * connection is reaped again when it idles afterwards (Bun keeps the 0 on the connection).
   */
  holdOpen?: (req: Request) => (() => void) | undefined;
  /**
   * Aborted when the process stops draining (main.ts, after AI_DRAIN_MS): requests still in flight
   * end with a retryable `shutting_down` error — an SSE `error` event, never a cut — and new
   * requests are refused with 503.
   */
  shutdown?: AbortSignal;
  newId?: () => string;
}

/** Retry-After of the requests a stopping server ends (a restart is quick). */
const SHUTTING_DOWN_RETRY_AFTER_MS = 1000;

/** The error in-flight requests end with when the server stops. */
export function shuttingDownError(): PipbotError {
  return new PipbotError("shutting_down", "the AI server is shutting down: retry the request", {
    retryable: true,
    retryAfterMs: SHUTTING_DOWN_RETRY_AFTER_MS,
  });
}

/** The request bodies' validators (field by field; errors exactly the schemas'). */
const validateOpenAI = fieldValidator(openaiRequestSchema, known);
const validateChat = fieldValidator(chatRequestSchema, chatRequestSchema.shape, { strict: true });
const validateAnthropic = fieldValidator(anthropicRequestSchema, anthropicRequestSchema.shape, {
  strict: true,
});

/** Errors in the shape of the API the path belongs to. */
function errorFor(path: string, e: PipbotError): Response {
  if (path === "/v1/messages" || path.startsWith("/v1/messages/")) return anthropicErrorResponse(e);
  return path.startsWith("/v1/") ? openaiErrorResponse(e) : errorResponse(e);
}

export function createApp(deps: AppDeps) {
  const s = deps.settings;
  const newId = deps.newId ?? (() => crypto.randomUUID());
  const engine = { registry: deps.registry, config: s, proxyHeaders: deps.registry.mode === "proxy" };
  const app = new Hono<{ Variables: { requestId: string } }>();
  const memory = new ReplyMemory();

  app.onError((err, c) => {
    const e = toPipbotError(err);
    if (e.status >= 500 && e.code === "internal")
      deps.logger.error({ err: err.message, path: c.req.path }, "unhandled error");
    return errorFor(c.req.path, e);
  });
  app.notFound((c) => {
    const e = new PipbotError("not_found", `no route for ${c.req.method} ${c.req.path}`);
    return errorFor(c.req.path, e);
  });

  // Every response — errors included — carries the request id (the plan of a chat request uses it).
  app.use("*", async (c, next) => {
    const id = newId();
    c.set("requestId", id);
    await next();
    if (!c.res.headers.has(PIPBOT_HEADERS.requestId)) c.header(PIPBOT_HEADERS.requestId, id);
    // The same id under the header each API's SDK reads (Anthropic's `request_id` /
    // `APIError.requestID`, OpenAI's `_request_id` / `APIError.requestID`): what users quote.
    const sameId = c.res.headers.get(PIPBOT_HEADERS.requestId) ?? id;
    if (c.req.path.startsWith("/v1/messages")) c.header("request-id", sameId);
    else if (c.req.path.startsWith("/v1/")) c.header("x-request-id", sameId);
  });

  app.get("/healthz", (c) =>
    c.json({
      ok: true,
      mode: deps.registry.mode,
      providers: deps.registry.configured,
      defaultModel: s.defaultModel,
      simulator: deps.simulator,
    }),
  );

  app.use("*", async (c, next) => {
    if (deps.shutdown?.aborted && c.req.method === "POST") throw shuttingDownError();
    // Bearer (OpenAI-style clients, the gateway) or x-api-key (@anthropic-ai/sdk).
    const presented = bearerToken(c.req.header("authorization")) ?? c.req.header("x-api-key");
    if (s.token && !secureEqual(presented, s.token))
      throw new PipbotError(
        "unauthorized",
        "missing or wrong token: send Authorization: Bearer <AI_SERVER_TOKEN> (or x-api-key: <AI_SERVER_TOKEN>, as @anthropic-ai/sdk does)",
      );
    await next();
  });

  /** The plan, and the parameters dropped for the primary model (on request). */
  const plan = (n: Normalized, req: Request, requestId: string) =>
    planRequest({ settings: s, registry: deps.registry, memory }, n, req, requestId);

  async function execute(
    p: ChatPlan,
    dropped: string[],
    req: Request,
    api: "chat" | "openai" | "anthropic",
    framing: SseFraming,
    body: (o: Awaited<ReturnType<typeof runChat>>) => unknown,
    fail: (e: unknown) => Response,
  ) {
    const extra: Record<string, string> = dropped.length
      ? { [PIPBOT_HEADERS.droppedParams]: dropped.join(",") }
      : {};
    const restoreIdle = deps.holdOpen?.(req);
    const accounting = {
      store: deps.store,
      logger: deps.logger,
      simulator: deps.simulator,
      ownUserId: deps.registry.userId,
    };
    // Aborted by the caller going away (reason: none → client_closed) or by the shutdown.
    const caller = new AbortController();
    const onGone = () => caller.abort();
    const onShutdown = () => caller.abort(shuttingDownError());
    req.signal.addEventListener("abort", onGone, { once: true });
    deps.shutdown?.addEventListener("abort", onShutdown, { once: true });
    const release = () => {
      req.signal.removeEventListener("abort", onGone);
      deps.shutdown?.removeEventListener("abort", onShutdown);
    };
    if (!p.stream) {
      const o = await runChat(engine, p, caller.signal).finally(release);
      if (o.status === "ok") memory.remember(o.parts);
      restoreIdle?.();
      // Off the response path: the SQLite insert and the wide log line run once the reply is out.
      setImmediate(() => account(accounting, p, o, api));
      if (o.status === "ok")
        return Response.json(body(o), { headers: { ...extra, [PIPBOT_HEADERS.requestId]: p.requestId } });
      const res = fail(o.error);
      for (const [k, v] of Object.entries(extra)) res.headers.set(k, v);
      return res;
    }
    return sseResponse(
      {
        requestId: p.requestId,
        keepAliveMs: s.keepAliveMs,
        caller,
        frames: framing,
        run: (hooks) => runChat(engine, p, caller.signal, hooks),
        ...(restoreIdle ? { beforeClose: restoreIdle } : {}),
        finished: (o) => {
          release();
          if (o.status === "ok") memory.remember(o.parts);
          account(accounting, p, o, api);
        },
      },
      extra,
    );
  }

  app.post("/chat", async (c) => {
    const r: ChatRequest = validateChat(await readJsonBody(c.req.raw, s.maxBodyBytes));
    const n: Normalized = {
      stream: r.stream === true,
      call: fromChatRequest(r),
      allowDrop: wantsDrop(c.req.raw, r.drop_params),
    };
    if (r.provider) n.provider = r.provider;
    if (r.model) n.model = r.model;
    if (r.fallbacks) n.fallbacks = r.fallbacks;
    if (r.metadata?.conversationId) n.conversationId = r.metadata.conversationId;
    const { plan: p, dropped } = plan(n, c.req.raw, c.get("requestId"));
    return execute(
      p,
      dropped,
      c.req.raw,
      "chat",
      chatFraming(p.requestId),
      (o) => chatResponseBody(p.requestId, o),
      (e) => errorResponse(toPipbotError(e)),
    );
  });

  app.post("/v1/chat/completions", async (c) => {
    const r = validateOpenAI(await readJsonBody(c.req.raw, s.maxBodyBytes));
    const { call, unsupported } = fromOpenAI(r);
    const n: Normalized = {
      stream: r.stream === true,
      call,
      unsupported,
      allowDrop: wantsDrop(c.req.raw, r.drop_params),
    };
    if (r.model) n.model = r.model;
    if (r.metadata) n.metadata = r.metadata;
    const { plan: p, dropped } = plan(n, c.req.raw, c.get("requestId"));
    const id = `chatcmpl-${p.requestId}`;
    return execute(
      p,
      dropped,
      c.req.raw,
      "openai",
      openaiFraming(id, r.stream_options?.include_usage === true),
      (o) => completionBody(id, o),
      openaiErrorResponse,
    );
  });

  app.post("/v1/messages", async (c) => {
    const r = validateAnthropic(await readJsonBody(c.req.raw, s.maxBodyBytes));
    const ref = anthropicModel(
      r.model,
      "/v1/messages",
      "use /v1/chat/completions (or /chat) for it",
      s,
      deps.registry.configured,
    );
    const n: Normalized = {
      stream: r.stream === true,
      call: { ...fromAnthropic(r), ...betasOf(c.req.raw) },
      model: ref.id,
      fallbacks: [],
      allowDrop: wantsDrop(c.req.raw, undefined),
    };
    const { plan: p, dropped } = plan(n, c.req.raw, c.get("requestId"));
    const id = `msg_${p.requestId.replaceAll("-", "")}`;
    return execute(
      p,
      dropped,
      c.req.raw,
      "anthropic",
      anthropicFraming(id, r.model),
      (o) => messageBody(id, r.model, o),
      anthropicErrorResponse,
    );
  });

  const counting = {
    settings: s,
    registry: deps.registry,
    memory,
    logger: deps.logger,
    simulator: deps.simulator,
    ...(deps.shutdown ? { shutdown: deps.shutdown } : {}),
  };
  app.post("/v1/messages/count_tokens", (c) => countTokensResponse(counting, c.req.raw, c.get("requestId")));

  const models = () => listedModels(s, s.fallbackModels, s.extraModels, deps.registry.configured);
  app.get("/v1/models", (c) => modelsList(c.req.raw, models()));
  // Ids hold a slash (openai/gpt-4o): the SDKs send it encoded (openai%2Fgpt-4o) or as is; Hono
  // decodes the parameter (and leaves a malformed escape as it came).
  app.get("/v1/models/:id{.+}", (c) => oneModel(c.req.raw, models(), c.req.param("id")));

  app.get("/usage", (c) => usageResponse(deps.store, (name) => c.req.query(name)));

  return app;
}
