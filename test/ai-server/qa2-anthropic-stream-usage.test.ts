/**
 * QA of /v1/messages stream usage through the real `@anthropic-ai/sdk`: the SDK's accumulated
 * message and the raw events carry the same usage as a non-stream request, cache numbers included.
 */
import { expect, test } from "bun:test";
import type Anthropic from "@anthropic-ai/sdk";
import { claudeSurface } from "./surface-helpers.ts";

const t = claudeSurface();

const params = {
  model: "claude-sim@tokens=3,cache_read=30,cache_write=50",
  max_tokens: 100,
  system: [
    { type: "text" as const, text: "a long system prompt", cache_control: { type: "ephemeral" as const } },
  ],
  messages: [{ role: "user" as const, content: "how many tokens?" }],
};

test("the stream's finalMessage() usage equals the non-stream usage (input, output, cache read and write)", async () => {
  const whole = await t.claude.messages.create(params);
  expect(whole.usage.input_tokens).toBeGreaterThan(0);
  const streamed = await t.claude.messages.stream(params).finalMessage();
  expect(streamed.usage).toMatchObject({
    input_tokens: whole.usage.input_tokens,
    output_tokens: 3,
    cache_read_input_tokens: 30,
    cache_creation_input_tokens: 50,
  });
});

test("message_start carries the input and cache usage, as Anthropic's does (Cline / Roo Code read it there)", async () => {
  const raw = await t.claude.messages.create({ ...params, stream: true });
  let start: Anthropic.Usage | undefined;
  let delta: Anthropic.MessageDeltaUsage | undefined;
  for await (const ev of raw) {
    if (ev.type === "message_start") start = ev.message.usage;
    if (ev.type === "message_delta") delta = ev.usage;
  }
  expect(delta?.input_tokens).toBeGreaterThan(0);
  expect(start).toMatchObject({
    input_tokens: delta?.input_tokens ?? -1,
    cache_read_input_tokens: 30,
    cache_creation_input_tokens: 50,
  });
});

test("thinking tokens: usage.output_tokens_details.thinking_tokens as the upstream reported it (create and stream)", async () => {
  const p = {
    model: "claude-sim@tokens=2,thoughts=7",
    max_tokens: 3000,
    thinking: { type: "enabled" as const, budget_tokens: 1024 },
    messages: [{ role: "user" as const, content: "think" }],
  };
  const whole = await t.claude.messages.create(p);
  expect(whole.usage.output_tokens_details).toEqual({ thinking_tokens: 7 });
  const streamed = await t.claude.messages.stream(p).finalMessage();
  expect(streamed.usage.output_tokens_details).toEqual({ thinking_tokens: 7 });
  // Without thinking there is no breakdown to report.
  const plain = await t.claude.messages.create({
    ...p,
    model: "claude-sim@tokens=2",
    thinking: { type: "disabled" },
  });
  expect(plain.usage.output_tokens_details ?? null).toBeNull();
});
