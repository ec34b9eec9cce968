/** Upstream simulator: the OpenAI Chat Completions wire format (`POST /v1/chat/completions`). */
import { fullText, reasoningText, type SimPlan, type SimWire, sse, toolCalls } from "./sim-wire.ts";

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
  const completion = plan.parts.length + plan.thoughts;
  return {
    prompt_tokens: plan.inputTokens,
    completion_tokens: completion,
    total_tokens: plan.inputTokens + completion,
    prompt_tokens_details: { cached_tokens: plan.opts.cacheRead, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: plan.thoughts, audio_tokens: 0 },
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
    const calls = toolCalls(plan);
    const text = fullText(plan);
    const message: Record<string, unknown> = {
      role: "assistant",
      content: calls.length && !text ? null : text,
      refusal: null,
    };
    if (plan.opts.reasoningText && reasoningText(plan)) message.reasoning_content = reasoningText(plan);
    if (calls.length)
      message.tool_calls = calls.map((c) => ({
        id: c.id,
        type: "function",
        function: { name: c.name, arguments: c.json },
      }));
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
    if (p.kind === "reasoning")
      return plan.opts.reasoningText ? chunk(plan, { reasoning_content: p.text }, null) : "";
    if (p.kind === "text") return chunk(plan, { content: p.text }, null);
    return chunk(
      plan,
      {
        tool_calls: [
          p.first
            ? { index: p.call, id: p.id, type: "function", function: { name: p.name, arguments: p.json } }
            : { index: p.call, function: { arguments: p.json } },
        ],
      },
      null,
    );
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
