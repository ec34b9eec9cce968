/**
 * An OpenAI refusal (Structured Outputs: `message.refusal`, content null; streamed as
 * `delta.refusal` pieces) through pipbot, read by the `openai` SDK's `chat.completions.parse` /
 * `.stream` with `zodResponseFormat`. The upstream here is a fake of OpenAI's exact refusal wire
 * (the simulator never refuses); everything else is the real AI server and the real SDK.
 */
import { expect, test } from "bun:test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, streamText } from "ai";
import type OpenAI from "openai";
import { zodResponseFormat } from "openai/helpers/zod";
import { z } from "zod";
import { fakeProviderServer } from "./harness.ts";

const TOKEN = "qa1-refusal-token-0123";
const REFUSAL = "I'm sorry, I cannot assist with that request.";
const PIECES = ["I'm sorry,", " I cannot assist", " with that request."];
const usage = { prompt_tokens: 17, completion_tokens: 10, total_tokens: 27 };

/** OpenAI's refusal, as the Chat Completions API sends it (non-stream and streamed). */
const received: { messages: { role: string; content: unknown }[] }[] = [];

async function fakeOpenAI(req: Request): Promise<Response> {
  const body = (await req.json()) as { stream?: boolean; model: string; messages: never[] };
  received.push(body);
  const base = { id: "chatcmpl-refused", created: 1, model: body.model, system_fingerprint: "fp_x" };
  if (!body.stream)
    return Response.json({
      ...base,
      object: "chat.completion",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: null, refusal: REFUSAL, annotations: [] },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage,
    });
  const chunk = (delta: unknown, finish: string | null) =>
    `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
  const text =
    chunk({ role: "assistant", content: null, refusal: "" }, null) +
    PIECES.map((p) => chunk({ refusal: p }, null)).join("") +
    chunk({}, "stop") +
    `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [], usage })}\n\n` +
    "data: [DONE]\n\n";
  return new Response(text, { headers: { "content-type": "text/event-stream" } });
}

const t = fakeProviderServer("openai", fakeOpenAI, { token: TOKEN, defaultModel: "openai/gpt-4o" });

const Event = z.object({ name: z.string(), date: z.string() });
const ask = { role: "user" as const, content: "plan something harmful" };

test("non-stream: the refusal is message.refusal (content null, finish_reason stop), as OpenAI sends it", async () => {
  const r = await t.openai.chat.completions.parse({
    model: "openai/gpt-4o",
    messages: [ask],
    response_format: zodResponseFormat(Event, "event"),
  });
  const choice = r.choices[0];
  expect(choice?.message.refusal).toBe(REFUSAL);
  expect(choice?.message.content).toBeNull();
  expect(choice?.message.parsed).toBeNull();
  expect(choice?.finish_reason).toBe("stop");
  expect(r.usage?.completion_tokens).toBe(10);
});

test("the refused turn sent back (the SDK's message as is) reaches the upstream as the assistant's text", async () => {
  const r = await t.openai.chat.completions.parse({
    model: "openai/gpt-4o",
    messages: [ask],
    response_format: zodResponseFormat(Event, "event"),
  });
  const refused = r.choices[0]?.message as OpenAI.ChatCompletionMessageParam;
  await t.openai.chat.completions.create({
    model: "openai/gpt-4o",
    messages: [ask, refused, { role: "user", content: "then something harmless" }],
  });
  expect(received.at(-1)?.messages[1]).toEqual({ role: "assistant", content: REFUSAL });
});

test("/chat: the refusal text comes back with stopReason refusal", async () => {
  const res = await fetch(`${t.server.url}/chat`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "openai/gpt-4o", messages: [ask] }),
  });
  const body = (await res.json()) as { stopReason: string; message: { content: { text?: string }[] } };
  expect(body.stopReason).toBe("refusal");
  expect(body.message.content.map((p) => p.text).join("")).toBe(REFUSAL);
});

test("streamed: the refusal arrives as delta.refusal pieces, no content, finish_reason stop (OpenAI's stream)", async () => {
  const stream = await t.openai.chat.completions.create({
    model: "openai/gpt-4o",
    messages: [ask],
    response_format: { type: "json_schema", json_schema: { name: "event", schema: { type: "object" } } },
    stream: true,
  });
  let refusal = "";
  let content = "";
  let finish: string | null = null;
  for await (const c of stream) {
    refusal += c.choices[0]?.delta.refusal ?? "";
    content += c.choices[0]?.delta.content ?? "";
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  expect([refusal, content, finish]).toEqual([REFUSAL, "", "stop"]);
});

test("Vercel AI SDK: the refusal is the text and finishReason content-filter, streamed or not", async () => {
  const pipbot = createOpenAICompatible({ name: "pipbot", baseURL: `${t.server.url}/v1`, apiKey: TOKEN });
  const whole = await generateText({ model: pipbot("openai/gpt-4o"), prompt: ask.content, maxRetries: 0 });
  expect([whole.text, whole.finishReason]).toEqual([REFUSAL, "content-filter"]);
  const streamed = streamText({ model: pipbot("openai/gpt-4o"), prompt: ask.content, maxRetries: 0 });
  expect([await streamed.text, await streamed.finishReason]).toEqual([REFUSAL, "content-filter"]);
});

test("streamed through the SDK's .stream() helper: delta.refusal, parsed null (OpenAI's shape)", async () => {
  const stream = t.openai.chat.completions.stream({
    model: "openai/gpt-4o",
    messages: [ask],
    response_format: zodResponseFormat(Event, "event"),
  });
  const done = await stream.finalChatCompletion();
  expect(done.choices[0]?.message.refusal).toBe(REFUSAL);
  expect(done.choices[0]?.message.parsed).toBeNull();
});
