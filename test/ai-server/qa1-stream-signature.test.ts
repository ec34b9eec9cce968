/**
 * Anthropic's signed thinking and Gemini's thought signature on a STREAMED reply reach the client
 * (as they do on non-stream replies). Gemini's thought signature on a streamed tool call reaches the client (Google's own
 * OpenAI-compatible convention, `extra_content.google.thought_signature`, as on non-stream
 * replies), so a streaming client's tool loop does not depend on the server remembering it: the
 * next turn may be served by a restarted AI server, or another machine of a separate AI app.
 * The simulator refuses a function call sent back without its signature, as Gemini 3 does.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { ChatOpenAI } from "@langchain/openai";
import { stepCountIs, streamText, tool } from "ai";
import OpenAI from "openai";
import { z } from "zod";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { startTestAiServer, type TestAiServer } from "./harness.ts";
import { WEATHER_TOOL } from "./surface-helpers.ts";

let sim: UpstreamSim;
let first: TestAiServer;
let second: TestAiServer;

beforeAll(async () => {
  sim = await startUpstreamSim();
  first = await startTestAiServer(sim, { defaultModel: "google/sim" });
  second = await startTestAiServer(sim, { defaultModel: "google/sim" });
});
afterAll(async () => {
  await first.stop();
  await second.stop();
  await sim.stop();
});

const clientOf = (s: TestAiServer) => new OpenAI({ apiKey: "any", baseURL: `${s.url}/v1`, maxRetries: 0 });

test("openai SDK .stream(): the accumulated call carries the signature; the next turn works on another server", async () => {
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "weather in Paris?" }];
  const stream = clientOf(first).chat.completions.stream({
    model: "google/sim",
    messages,
    tools: [WEATHER_TOOL],
  });
  const done = await stream.finalChatCompletion();
  const msg = done.choices[0]!.message;
  const call = msg.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall & {
    extra_content?: { google?: { thought_signature?: string } };
  };
  expect(done.choices[0]?.finish_reason).toBe("tool_calls");
  expect(call.function.name).toBe("get_weather");
  expect(JSON.parse(call.function.arguments)).toEqual({ city: "Paris" });
  expect(call.extra_content?.google?.thought_signature).toStartWith("tsig_");

  const { parsed: _p, ...assistant } = msg;
  messages.push(assistant as OpenAI.ChatCompletionMessageParam, {
    role: "tool",
    tool_call_id: call.id,
    content: "Sunny",
  });
  const next = await clientOf(second).chat.completions.create({
    model: "google/sim",
    messages,
    tools: [WEATHER_TOOL],
  });
  expect(next.choices[0]?.message.content).toContain("Tool get_weather returned");
  const back = sim.requests.at(-1)?.body as { contents: { parts: { thoughtSignature?: string }[] }[] };
  expect(back.contents[1]?.parts[0]?.thoughtSignature).toBe(call.extra_content?.google?.thought_signature);
});

test("Vercel AI SDK streamText: the signature comes with the streamed call and goes back; step 2 on another server", async () => {
  let requests = 0;
  // Step 1 to the first server, step 2 to the second (which has never seen the call).
  const route = (input: string | URL | Request, init?: RequestInit) =>
    fetch(requests++ === 0 ? String(input) : String(input).replace(first.url, second.url), init);
  const pipbot = createOpenAICompatible({
    name: "pipbot",
    baseURL: `${first.url}/v1`,
    apiKey: "any",
    fetch: Object.assign(route, { preconnect: fetch.preconnect }),
  });
  const r = streamText({
    model: pipbot("google/sim"),
    prompt: "What is the weather in Paris?",
    tools: {
      get_weather: tool({ inputSchema: z.object({ city: z.string() }), execute: async () => "Sunny" }),
    },
    stopWhen: stepCountIs(3),
  });
  const errors: unknown[] = [];
  for await (const p of r.fullStream) if (p.type === "error") errors.push(p.error);
  expect(errors).toEqual([]);
  expect(requests).toBe(2);
  expect(await r.text).toContain("Tool get_weather returned");
});

test("anthropic/: the openai SDK .stream() gets thinking_blocks with the signature; the tool loop's next turn works on another server", async () => {
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "weather in Paris?" }];
  const done = await clientOf(first)
    .chat.completions.stream({
      model: "anthropic/sim",
      messages,
      tools: [WEATHER_TOOL],
      reasoning_effort: "low",
    })
    .finalChatCompletion();
  const msg = done.choices[0]!.message as OpenAI.ChatCompletionMessage & {
    thinking_blocks?: { type: string; thinking?: string; signature?: string }[];
  };
  expect(msg.thinking_blocks).toEqual([
    {
      type: "thinking",
      thinking: "Thinking about: weather in Paris?",
      signature: expect.stringMatching(/^sig_/),
    },
  ]);
  const call = msg.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
  const { parsed: _p, ...assistant } = msg as typeof msg & { parsed?: unknown };
  messages.push(assistant as OpenAI.ChatCompletionMessageParam, {
    role: "tool",
    tool_call_id: call.id,
    content: "Sunny",
  });
  const next = await clientOf(second).chat.completions.create({
    model: "anthropic/sim",
    messages,
    tools: [WEATHER_TOOL],
    reasoning_effort: "low",
  });
  expect(next.choices[0]?.message.content).toContain("Tool get_weather returned");
});

test("LangChain .stream() assembles the streamed calls (each one whole fragment)", async () => {
  const llm = new ChatOpenAI({
    model: "google/sim@tool_calls=2",
    apiKey: "any",
    configuration: { baseURL: `${first.url}/v1` },
    maxRetries: 0,
  }).bindTools([WEATHER_TOOL]);
  // biome-ignore lint/suspicious/noExplicitAny: LangChain's chunk type is generic over its message classes
  let acc: any;
  for await (const c of await llm.stream("two cities")) acc = acc ? acc.concat(c) : c;
  expect(acc.tool_calls.map((t: { name: string; args: unknown }) => [t.name, t.args])).toEqual([
    ["get_weather", { city: "Paris" }],
    ["get_weather", { city: "Paris" }],
  ]);
  expect(acc.invalid_tool_calls ?? []).toEqual([]);
});
