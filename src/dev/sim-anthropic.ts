/** Upstream simulator: the Anthropic Messages wire format (`POST /v1/messages`). */
import { anthropicErrorType } from "../shared/anthropic-errors.ts";
import { type SimPart, type SimPlan, type SimWire, sse } from "./sim-wire.ts";

function usage(plan: SimPlan, output: number) {
  return {
    input_tokens: plan.inputTokens,
    output_tokens: output,
    cache_creation_input_tokens: plan.opts.cacheWrite,
    cache_read_input_tokens: plan.opts.cacheRead,
    ...(plan.thoughts ? { output_tokens_details: { thinking_tokens: plan.thoughts } } : {}),
  };
}

const stopReason = (plan: SimPlan) => (plan.tool ? "tool_use" : plan.truncated ? "max_tokens" : "end_turn");

function blockStart(p: SimPart): unknown {
  if (p.kind === "text") return { type: "text", text: "" };
  if (p.kind === "reasoning") return { type: "thinking", thinking: "", signature: "" };
  return { type: "tool_use", id: p.id, name: p.name, input: {} };
}

function blockDelta(p: SimPart): unknown {
  if (p.kind === "text") return { type: "text_delta", text: p.text };
  if (p.kind === "reasoning") return { type: "thinking_delta", thinking: p.text };
  return { type: "input_json_delta", partial_json: p.json };
}

const stop = (index: number, plan: SimPlan, i: number) => {
  const p = plan.parts[i];
  let out = "";
  if (p?.kind === "reasoning")
    out += sse(
      { type: "content_block_delta", index, delta: { type: "signature_delta", signature: p.signature } },
      "content_block_delta",
    );
  return out + sse({ type: "content_block_stop", index }, "content_block_stop");
};

export const anthropicWire: SimWire = {
  provider: "anthropic",
  requestIdHeader: "request-id",
  json(plan) {
    const content: Record<string, unknown>[] = [];
    let cur: Record<string, unknown> | undefined;
    let curBlock = -1;
    for (const p of plan.parts) {
      if (p.block !== curBlock) {
        curBlock = p.block;
        cur =
          p.kind === "text"
            ? { type: "text", text: "" }
            : p.kind === "reasoning"
              ? { type: "thinking", thinking: "", signature: p.signature }
              : { type: "tool_use", id: p.id, name: p.name, input: "" };
        content.push(cur);
      }
      if (!cur) continue;
      if (p.kind === "text") cur.text += p.text;
      else if (p.kind === "reasoning") cur.thinking += p.text;
      else cur.input += p.json;
    }
    for (const c of content) if (c.type === "tool_use") c.input = JSON.parse(String(c.input) || "{}");
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
    const prev = plan.parts[i - 1];
    let out = "";
    if (prev?.block !== p.block) {
      if (prev) out += stop(prev.block, plan, i - 1);
      out += sse(
        { type: "content_block_start", index: p.block, content_block: blockStart(p) },
        "content_block_start",
      );
    }
    return (
      out + sse({ type: "content_block_delta", index: p.block, delta: blockDelta(p) }, "content_block_delta")
    );
  },
  post(plan) {
    const last = plan.parts.length - 1;
    const lp = plan.parts[last];
    return (
      (lp ? stop(lp.block, plan, last) : "") +
      sse(
        {
          type: "message_delta",
          delta: { stop_reason: stopReason(plan), stop_sequence: null },
          usage: {
            output_tokens: plan.parts.length,
            ...(plan.thoughts ? { output_tokens_details: { thinking_tokens: plan.thoughts } } : {}),
          },
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
      body: { type: "error", error: { type: anthropicErrorType(status), message }, request_id: null },
    };
  },
};
