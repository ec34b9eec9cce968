/** Upstream simulator: the Anthropic Messages wire format (`POST /v1/messages`). */
import { SIM_TOOL } from "./sim-options.ts";
import { fullText, type SimPlan, type SimWire, sse } from "./sim-wire.ts";

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

function usage(plan: SimPlan, output: number) {
  return {
    input_tokens: plan.inputTokens,
    output_tokens: output,
    cache_creation_input_tokens: plan.opts.cacheWrite,
    cache_read_input_tokens: plan.opts.cacheRead,
  };
}

const stopReason = (plan: SimPlan) => (plan.tool ? "tool_use" : plan.truncated ? "max_tokens" : "end_turn");
const toolIndex = (plan: SimPlan) => (plan.parts[0]?.kind === "text" ? 1 : 0);

export const anthropicWire: SimWire = {
  provider: "anthropic",
  requestIdHeader: "request-id",
  json(plan) {
    const content: unknown[] = [{ type: "text", text: fullText(plan) }];
    if (plan.tool)
      content.push({ type: "tool_use", id: SIM_TOOL.id, name: SIM_TOOL.name, input: { city: "Paris" } });
    return {
      id: plan.id,
      type: "message",
      role: "assistant",
      model: plan.model,
      content,
      stop_reason: stopReason(plan),
      stop_sequence: null,
      usage: usage(plan, plan.parts.length),
    };
  },
  pre(plan) {
    const message = {
      id: plan.id,
      type: "message",
      role: "assistant",
      model: plan.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: usage(plan, 1),
    };
    return sse({ type: "message_start", message }, "message_start") + sse({ type: "ping" }, "ping");
  },
  part(plan, i) {
    const p = plan.parts[i];
    if (!p) return "";
    let out = "";
    if (p.kind === "text") {
      if (i === 0)
        out += sse(
          { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
          "content_block_start",
        );
      return (
        out +
        sse(
          { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: p.text } },
          "content_block_delta",
        )
      );
    }
    const index = toolIndex(plan);
    if (p.first) {
      if (index > 0) out += sse({ type: "content_block_stop", index: 0 }, "content_block_stop");
      out += sse(
        {
          type: "content_block_start",
          index,
          content_block: { type: "tool_use", id: SIM_TOOL.id, name: SIM_TOOL.name, input: {} },
        },
        "content_block_start",
      );
    }
    return (
      out +
      sse(
        { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: p.json } },
        "content_block_delta",
      )
    );
  },
  post(plan) {
    const index = plan.tool ? toolIndex(plan) : 0;
    return (
      sse({ type: "content_block_stop", index }, "content_block_stop") +
      sse(
        {
          type: "message_delta",
          delta: { stop_reason: stopReason(plan), stop_sequence: null },
          usage: { output_tokens: plan.parts.length },
        },
        "message_delta",
      ) +
      sse({ type: "message_stop" }, "message_stop")
    );
  },
  errorFrame(plan) {
    return sse(
      {
        type: "error",
        error: { type: "overloaded_error", message: "Overloaded" },
        request_id: `req_${plan.id}`,
      },
      "error",
    );
  },
  error(status, message) {
    return {
      status,
      body: { type: "error", error: { type: ERROR_TYPES[status] ?? "api_error", message }, request_id: null },
    };
  },
};
