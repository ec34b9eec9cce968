/** Upstream simulator: the OpenAI Chat Completions wire format (`POST /v1/chat/completions`). */
import { SIM_TOOL } from "./sim-options.ts";
import { fullText, type SimPlan, type SimWire, sse } from "./sim-wire.ts";

const ERRORS: Record<number, { type: string; code: string | null }> = {
  400: { type: "invalid_request_error", code: null },
  401: { type: "invalid_request_error", code: "invalid_api_key" },
  403: { type: "invalid_request_error", code: "unsupported_country_region_territory" },
  404: { type: "invalid_request_error", code: "model_not_found" },
  429: { type: "requests", code: "rate_limit_exceeded" },
  500: { type: "server_error", code: null },
  503: { type: "server_error", code: "service_unavailable" },
};

const created = () => Math.floor(Date.now() / 1000);
const finish = (plan: SimPlan) => (plan.tool ? "tool_calls" : plan.truncated ? "length" : "stop");

function usage(plan: SimPlan) {
  const completion = plan.parts.length + plan.opts.thoughts;
  return {
    prompt_tokens: plan.inputTokens,
    completion_tokens: completion,
    total_tokens: plan.inputTokens + completion,
    prompt_tokens_details: { cached_tokens: plan.opts.cacheRead, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: plan.opts.thoughts, audio_tokens: 0 },
  };
}

function chunk(plan: SimPlan, delta: Record<string, unknown>, finishReason: string | null) {
  const c: Record<string, unknown> = {
    id: plan.id,
    object: "chat.completion.chunk",
    created: created(),
    model: plan.model,
    system_fingerprint: "fp_sim",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
  if (plan.includeUsage) c.usage = null;
  return sse(c);
}

export const openaiWire: SimWire = {
  provider: "openai",
  requestIdHeader: "x-request-id",
  json(plan) {
    const message: Record<string, unknown> = { role: "assistant", content: fullText(plan), refusal: null };
    if (plan.tool)
      message.tool_calls = [
        {
          id: SIM_TOOL.id,
          type: "function",
          function: { name: SIM_TOOL.name, arguments: SIM_TOOL.argChunks.join("") },
        },
      ];
    return {
      id: plan.id,
      object: "chat.completion",
      created: created(),
      model: plan.model,
      system_fingerprint: "fp_sim",
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish(plan) }],
      usage: usage(plan),
    };
  },
  pre(plan) {
    // Like the real API: a first chunk with the role and empty content, right after the headers.
    return chunk(plan, { role: "assistant", content: "", refusal: null }, null);
  },
  part(plan, i) {
    const p = plan.parts[i];
    if (!p) return "";
    const delta: Record<string, unknown> = {};
    if (p.kind === "text") delta.content = p.text;
    else
      delta.tool_calls = [
        p.first
          ? {
              index: 0,
              id: SIM_TOOL.id,
              type: "function",
              function: { name: SIM_TOOL.name, arguments: p.json },
            }
          : { index: 0, function: { arguments: p.json } },
      ];
    return chunk(plan, delta, null);
  },
  post(plan) {
    let out = chunk(plan, {}, finish(plan));
    if (plan.includeUsage)
      out += sse({
        id: plan.id,
        object: "chat.completion.chunk",
        created: created(),
        model: plan.model,
        system_fingerprint: "fp_sim",
        choices: [],
        usage: usage(plan),
      });
    return `${out}data: [DONE]\n\n`;
  },
  errorFrame() {
    return sse({
      error: {
        message: "The server had an error while processing your request.",
        type: "server_error",
        param: null,
        code: null,
      },
    });
  },
  error(status, message) {
    const e = ERRORS[status] ?? {
      type: status >= 500 ? "server_error" : "invalid_request_error",
      code: null,
    };
    return { status, body: { error: { message, type: e.type, param: null, code: e.code } } };
  },
};
