/**
 * Anthropic's whole message (non-stream answer) → canonical events, checked against the stream
 * reader on the simulator's two renderings of the same planned answer; error bodies; and the rule
 * that sends a call as a stream, checked against the SDK's own refusal.
 */
import { describe, expect, test } from "bun:test";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import {
  anthropicParams,
  MODEL_NONSTREAMING_TOKENS,
  mustStream,
} from "../../src/ai-server/providers/anthropic.ts";
import { messageEvents } from "../../src/ai-server/providers/anthropic-message.ts";
import { anthropicEvents } from "../../src/ai-server/providers/anthropic-stream.ts";
import type { ProviderCall, ProviderEvent } from "../../src/ai-server/providers/index.ts";
import { sseBatches } from "../../src/ai-server/providers/sdk-adapter.ts";
import { anthropicWire } from "../../src/dev/sim-anthropic.ts";
import { parseAnthropicBody } from "../../src/dev/sim-count-tokens.ts";
import { parseSimOptions, splitSimModel } from "../../src/dev/sim-options.ts";
import { buildPlan } from "../../src/dev/sim-plan.ts";
import { PipbotError } from "../../src/shared/errors.ts";

/** The simulator's answer to the call's real request body: the whole message and its SSE stream. */
function simAnswer(call: Partial<ProviderCall> & { model: string }) {
  const body = anthropicParams({
    messages: [{ role: "user", content: [{ type: "text", text: "hello" }] }],
    headers: {},
    signal: new AbortController().signal,
    ...call,
  });
  const parsed = parseAnthropicBody(body as never, false);
  const { model, options } = splitSimModel(parsed.model);
  parsed.model = model;
  const plan = buildPlan(parsed, parseSimOptions(options, null), "msg_unit");
  const parts = plan.parts.map((_, i) => anthropicWire.part(plan, i)).join("");
  return { json: anthropicWire.json(plan), sse: anthropicWire.pre(plan) + parts + anthropicWire.post(plan) };
}

/**
 * Stream events with the pieces of one block joined and the cumulative usage merged into one
 * leading event: what a whole message gives in one go. Tool arguments compare as JSON values (a
 * whole message has the parsed input, not the streamed text with its spacing).
 */
function fold(events: ProviderEvent[]): ProviderEvent[] {
  let usage = {};
  const out: ProviderEvent[] = [];
  for (const ev of events) {
    const last = out.at(-1);
    if (ev.type === "usage") usage = { ...usage, ...ev.usage };
    else if ((ev.type === "text" || ev.type === "reasoning") && last?.type === ev.type) last.text += ev.text;
    else if (ev.type === "tool_args" && last?.type === "tool_args" && last.index === ev.index)
      last.json += ev.json;
    else out.push({ ...ev });
  }
  for (const ev of out) if (ev.type === "tool_args") ev.json = JSON.stringify(JSON.parse(ev.json));
  return [{ type: "usage", usage }, ...out];
}

async function streamed(sse: string): Promise<ProviderEvent[]> {
  const all: ProviderEvent[] = [];
  for await (const batch of anthropicEvents(sseBatches(new Response(sse)))) all.push(...batch);
  return fold(all);
}

describe("a whole message gives the events its stream gives", () => {
  const cases: [string, Partial<ProviderCall> & { model: string }][] = [
    ["text", { model: "sim@tokens=4" }],
    [
      "thinking with a signature, cache and thinking usage",
      { model: "sim@tokens=2,cache_read=3,cache_write=5", reasoning: { effort: "low" } },
    ],
    ["text then a tool call", { model: "sim@fault=tool_call" }],
    [
      "two parallel tool calls",
      {
        model: "sim@tool_calls=2",
        tools: [
          { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
        ],
      },
    ],
    ["json_object mode (the forced tool → text)", { model: "sim", responseFormat: { type: "json_object" } }],
    ["max_tokens reached", { model: "sim@tokens=9", maxTokens: 3 }],
  ];
  for (const [name, call] of cases)
    test(name, async () => {
      const { json, sse } = simAnswer(call);
      const whole = messageEvents(json);
      expect(whole).toEqual(await streamed(sse));
      expect(whole.at(-1)?.type).toBe("stop");
      expect(whole.length).toBeGreaterThan(2);
    });

  test("the mapped events, spelled out: signature, redacted thinking, tools, JSON tool, usage, stop", () => {
    const events = messageEvents({
      type: "message",
      content: [
        { type: "thinking", thinking: "hmm", signature: "sig1" },
        { type: "redacted_thinking", data: "opaque" },
        { type: "text", text: "Hi" },
        { type: "server_tool_use", id: "srv_1", name: "web_search", input: {} },
        { type: "tool_use", id: "t1", name: "add", input: { a: 1 } },
        { type: "tool_use", id: "j", name: "json_response", input: { reply: "x" } },
        { type: "tool_use", id: "t2", name: "sub", input: {} },
      ],
      stop_reason: "tool_use",
      usage: {
        input_tokens: 10,
        output_tokens: 20,
        cache_read_input_tokens: 3,
        cache_creation_input_tokens: 4,
        output_tokens_details: { thinking_tokens: 7 },
      },
    });
    expect(events).toEqual([
      {
        type: "usage",
        usage: {
          inputTokens: 10,
          outputTokens: 20,
          cacheReadTokens: 3,
          cacheWriteTokens: 4,
          reasoningTokens: 7,
        },
      },
      { type: "reasoning", text: "hmm" },
      { type: "reasoning_end", signature: "sig1" },
      { type: "reasoning_end", redacted: "opaque" },
      { type: "text", text: "Hi" },
      { type: "tool_start", index: 0, id: "t1", name: "add" },
      { type: "tool_args", index: 0, json: '{"a":1}' },
      { type: "tool_end", index: 0 },
      { type: "text", text: '{"reply":"x"}' },
      { type: "tool_start", index: 1, id: "t2", name: "sub" },
      { type: "tool_args", index: 1, json: "{}" },
      { type: "tool_end", index: 1 },
      { type: "stop", reason: "tool_use" },
    ]);
  });
});

describe("bodies that are not a message", () => {
  test("an error object in a 200 body throws like the stream's error event", () => {
    const body = { type: "error", error: { type: "overloaded_error", message: "Overloaded" } };
    let err: unknown;
    try {
      messageEvents(body);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PipbotError);
    expect(err).toMatchObject({ code: "upstream_overloaded", retryable: true });
    expect((err as Error).message).toBe("anthropic upstream error in stream: Overloaded");
  });

  test("a body without content throws, naming what came", () => {
    expect(() => messageEvents({ hello: "there" })).toThrow(
      'anthropic upstream HTTP 200: the answer is not a message (no content array): {"hello":"there"}',
    );
    expect(() => messageEvents(null)).toThrow("the answer is not a message");
  });
});

describe("when a call must stream: the SDK's own rule", () => {
  const client = new Anthropic({ apiKey: "unit", baseURL: "http://127.0.0.1:9", maxRetries: 0 });
  const sdkRefuses = (model: string, max_tokens: number) => {
    try {
      // Without a client timeout the SDK applies its rule before sending anything (it throws then);
      // a request it accepts is aborted before it leaves.
      void client.messages
        .create(
          { model, max_tokens, messages: [{ role: "user", content: "x" }] },
          { signal: AbortSignal.abort() },
        )
        .catch(() => {});
      return false;
    } catch (e) {
      return e instanceof Anthropic.AnthropicError && /Streaming is required/.test(e.message);
    }
  };

  test("max_tokens above 21 333 (10 of the SDK's 60 minutes per 128 000), or above a model's cap", () => {
    const cases: [string, number, boolean][] = [
      ["claude-unit", 4096, false],
      ["claude-unit", 21_333, false],
      ["claude-unit", 21_334, true],
      ["claude-unit", 64_000, true],
      ["claude-opus-4-1@20250805", 8192, false],
      ["claude-opus-4-1@20250805", 8193, true],
    ];
    for (const [model, max_tokens, must] of cases) {
      expect({ model, max_tokens, must: mustStream(client, { model, max_tokens }) }).toEqual({
        model,
        max_tokens,
        must,
      });
      expect({ model, max_tokens, sdk: sdkRefuses(model, max_tokens) }).toEqual({
        model,
        max_tokens,
        sdk: must,
      });
    }
  });

  test("the per-model caps are the installed SDK's (its table is not exported: read from its file)", () => {
    const require = createRequire(import.meta.url);
    const sdkDir = dirname(require.resolve("@anthropic-ai/sdk"));
    const sdk = require(join(sdkDir, "internal", "constants.js")) as {
      MODEL_NONSTREAMING_TOKENS: Record<string, number>;
    };
    expect(MODEL_NONSTREAMING_TOKENS).toEqual(sdk.MODEL_NONSTREAMING_TOKENS);
  });
});
