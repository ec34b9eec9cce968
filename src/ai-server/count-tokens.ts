/**
 * `POST /v1/messages/count_tokens`: Anthropic's token count for `anthropic/` models (and bare
 * `claude-…` ids), so `@anthropic-ai/sdk`'s `messages.countTokens()` works with `baseURL` = pipbot.
 *
 * The body is /v1/messages' minus what a count does not take (max_tokens, stream, sampling, stop,
 * metadata: unknown fields are refused, as there); it goes through the same canonical path
 * (fromAnthropic → the request plan → the Anthropic adapter's params), so what is counted is what
 * /v1/messages would send. The upstream call is one non-stream POST through the SDK's prepared
 * request (proxy-v1 included: the proxy forwards count_tokens without a usage row), retried like
 * the engine's (retryable errors, backoff, `AI_MAX_RETRIES`, within `AI_TOTAL_TIMEOUT_MS`), each
 * attempt bounded by `AI_CONNECT_TIMEOUT_MS` for the whole answer. Nothing is generated, so no
 * usage row is written; one wide log line per request.
 */
import { abortableSleep } from "../shared/backoff.ts";
import { PipbotError, toPipbotError } from "../shared/errors.ts";
import { PIPBOT_HEADERS } from "../shared/headers.ts";
import type { Logger } from "../shared/log.ts";
import { anthropicErrorResponse } from "./anthropic-compat.ts";
import { anthropicModel, betasOf, fromAnthropic } from "./anthropic-request.ts";
import { anthropicRequestSchema } from "./anthropic-schema.ts";
import { callerCredentialError } from "./caller-identity.ts";
import type { EngineConfig } from "./chat.ts";
import { PhaseTimer, timeoutError } from "./phase-timer.ts";
import type { ProviderAdapter, ProviderCall, ProviderRegistry } from "./providers/index.ts";
import type { ReplyMemory } from "./reply-memory.ts";
import { readJsonBody, validate } from "./request-body.ts";
import { type PlannerDeps, planRequest, wantsDrop } from "./request-plan.ts";
import { backoffMs } from "./retry.ts";

/** Anthropic's count_tokens body: model, messages, system, tools, tool_choice, thinking, output_config, cache_control. */
export const countTokensRequestSchema = anthropicRequestSchema.omit({
  max_tokens: true,
  stream: true,
  stop_sequences: true,
  temperature: true,
  top_p: true,
  top_k: true,
  metadata: true,
});

export interface CountTokensDeps {
  settings: PlannerDeps["settings"] & EngineConfig & { maxBodyBytes: number };
  registry: ProviderRegistry;
  memory: ReplyMemory;
  logger: Logger;
  simulator: boolean;
  /** Aborted when the server stops draining (the count ends with its `shutting_down` reason). */
  shutdown?: AbortSignal;
  random?: () => number;
}

interface Counted {
  inputTokens?: number;
  error?: PipbotError;
  attempts: number;
}

/** The count with the engine's retry policy; never throws. */
async function countWithRetries(
  adapter: ProviderAdapter,
  call: Omit<ProviderCall, "signal">,
  modelId: string,
  cfg: EngineConfig,
  signal: AbortSignal,
  random?: () => number,
): Promise<Counted> {
  const total = { at: performance.now() + cfg.totalTimeoutMs, ms: cfg.totalTimeoutMs };
  const abortError = () =>
    signal.reason instanceof PipbotError
      ? signal.reason
      : new PipbotError("client_closed", "the caller closed the request");
  for (let retry = 0; ; retry++) {
    const ac = new AbortController();
    const onCaller = () => ac.abort();
    if (signal.aborted) ac.abort();
    else signal.addEventListener("abort", onCaller, { once: true });
    const timer = new PhaseTimer(() => ac.abort(), undefined, total);
    timer.arm("connect", cfg.connectTimeoutMs);
    let err: PipbotError;
    try {
      if (!adapter.countTokens)
        throw new PipbotError("internal", "the anthropic adapter cannot count tokens");
      return { inputTokens: await adapter.countTokens({ ...call, signal: ac.signal }), attempts: retry + 1 };
    } catch (e) {
      err = timer.expired
        ? timeoutError(timer.expired.phase, timer.expired.ms, modelId)
        : signal.aborted
          ? abortError()
          : toPipbotError(e, "upstream_error");
    } finally {
      timer.clear();
      signal.removeEventListener("abort", onCaller);
    }
    const attempts = retry + 1;
    if (signal.aborted || !err.retryable || retry >= cfg.maxRetries || timer.expired?.phase === "total")
      return { error: err, attempts };
    const wait = backoffMs(retry + 1, err.retryAfterMs, random);
    if (performance.now() + wait >= total.at) return { error: err, attempts };
    if (!(await abortableSleep(wait, signal))) return { error: abortError(), attempts };
  }
}

/** The route: validate, plan like /v1/messages, count upstream, answer `{input_tokens}` or an Anthropic error. */
export async function countTokensResponse(
  d: CountTokensDeps,
  req: Request,
  requestId: string,
): Promise<Response> {
  const s = d.settings;
  const r = validate(countTokensRequestSchema, await readJsonBody(req, s.maxBodyBytes));
  const ref = anthropicModel(
    r.model,
    "/v1/messages/count_tokens",
    "pipbot counts tokens for Anthropic models only (/v1/chat/completions reports usage.prompt_tokens for the others)",
    s,
    d.registry.configured,
  );
  // A count has no max_tokens (a thinking budget is not checked against one).
  const { maxTokens: _unused, ...input } = { ...fromAnthropic({ ...r, max_tokens: 1 }), ...betasOf(req) };
  const { plan, dropped } = planRequest(
    d,
    { stream: false, call: input, model: ref.id, fallbacks: [], allowDrop: wantsDrop(req, undefined) },
    req,
    requestId,
  );
  const adapter = d.registry.get(ref.provider);
  // proxy-v1 wants the request id (and a forwarded identity) on every call, counts included.
  const headers: Record<string, string> = {};
  if (d.registry.mode === "proxy") {
    headers[PIPBOT_HEADERS.requestId] = requestId;
    if (plan.identity) {
      headers[PIPBOT_HEADERS.userId] = plan.identity.userId;
      headers[PIPBOT_HEADERS.serviceToken] = plan.identity.serviceToken;
    }
  }
  const call: Omit<ProviderCall, "signal"> = { model: ref.model, ...plan.call, headers };
  if (d.registry.mode === "proxy" && plan.identity) call.apiKey = plan.identity.serviceToken;
  const signal = d.shutdown ? AbortSignal.any([req.signal, d.shutdown]) : req.signal;

  const started = performance.now();
  const o = await countWithRetries(adapter, call, ref.id, s, signal, d.random);
  // A 401/403 on a forwarded identity points at the caller's values (as for a generation).
  if (o.error && call.apiKey) o.error = callerCredentialError(o.error);
  const fields: Record<string, unknown> = {
    requestId,
    api: "anthropic",
    route: "count_tokens",
    provider: ref.provider,
    model: ref.model,
    status: o.error ? "error" : "ok",
    attempts: o.attempts,
    latencyMs: Math.round((performance.now() - started) * 100) / 100,
  };
  if (o.inputTokens !== undefined) fields.inputTokens = o.inputTokens;
  if (plan.identity) fields.userId = plan.identity.userId;
  if (o.error) {
    fields.errorCode = o.error.code;
    fields.error = o.error.message;
    fields.retryable = o.error.retryable;
  }
  if (d.simulator) fields.simulator = true;
  if (o.error) d.logger.warn(fields, "count_tokens request failed");
  else d.logger.info(fields, "count_tokens request");

  const res =
    o.inputTokens !== undefined
      ? Response.json({ input_tokens: o.inputTokens })
      : anthropicErrorResponse(o.error ?? toPipbotError(undefined));
  res.headers.set(PIPBOT_HEADERS.requestId, requestId);
  if (dropped.length) res.headers.set(PIPBOT_HEADERS.droppedParams, dropped.join(","));
  return res;
}
