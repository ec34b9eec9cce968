/**
 * The client-library paths apps use that the other surface tests do not drive, on every prefix:
 * the openai SDK's `parse()` / `.stream()` helpers with zod (structured output, strict tools,
 * the final usage), the Vercel AI SDK's `streamText` tool loop over several steps and
 * `streamObject`, and LangChain's `.stream()` with tools and usage and `withStructuredOutput`.
 * Each asserts what the library hands the app, not the wire.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import type { AIMessageChunk } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import { stepCountIs, streamObject, streamText, tool } from "ai";
import { zodFunction, zodResponseFormat } from "openai/helpers/zod";
import { z } from "zod";
import { PROVIDERS, type Surface, startSurface, TOKEN, WEATHER_TOOL } from "./surface-helpers.ts";

let s: Surface;
beforeAll(async () => {
  s = await startSurface();
});
afterAll(() => s.stop());
afterEach(() => s.sim.reset());

const Event = z.object({ name: z.string(), participants: z.array(z.string()), sunny: z.boolean() });
const EVENT = { name: "name-sample", participants: ["participants-sample"], sunny: true };
const Weather = z.object({ city: z.string() });

describe.each(PROVIDERS)("%s/", (provider) => {
  const model = `${provider}/sim`;

  test("openai SDK parse(): zodResponseFormat → parsed; zodFunction → parsed_arguments", async () => {
    const r = await s.openai.chat.completions.parse({
      model,
      messages: [{ role: "user", content: "an event as json" }],
      response_format: zodResponseFormat(Event, "event"),
    });
    expect(r.choices[0]?.message.parsed).toEqual(EVENT);
    expect(r.choices[0]?.finish_reason).toBe("stop");

    const t = await s.openai.chat.completions.parse({
      model,
      messages: [{ role: "user", content: "weather in Paris?" }],
      tools: [zodFunction({ name: "get_weather", parameters: Weather })],
    });
    expect(t.choices[0]?.finish_reason).toBe("tool_calls");
    const call = t.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === "function" ? call.function.parsed_arguments : call).toEqual({ city: "Paris" });
  });

  test("openai SDK .stream(): the final completion is parsed and carries the usage chunk's numbers", async () => {
    const stream = s.openai.chat.completions.stream({
      model: `${model}@tokens=3`,
      messages: [{ role: "user", content: "an event as json" }],
      response_format: zodResponseFormat(Event, "event"),
      stream_options: { include_usage: true },
    });
    const done = await stream.finalChatCompletion();
    expect(done.choices[0]?.message.parsed).toEqual(EVENT);
    expect(done.usage?.completion_tokens).toBe(3);
    expect(done.usage?.total_tokens).toBe((done.usage?.prompt_tokens ?? 0) + 3);
  });

  test("Vercel AI SDK streamText: a tool loop over two steps, text and usage summed", async () => {
    const pipbot = createOpenAICompatible({
      name: "pipbot",
      baseURL: `${s.server.url}/v1`,
      apiKey: TOKEN,
      includeUsage: true,
    });
    let executed = 0;
    const r = streamText({
      model: pipbot(model),
      prompt: "What is the weather in Paris?",
      tools: {
        get_weather: tool({
          inputSchema: Weather,
          execute: async ({ city }) => {
            executed++;
            return `Sunny in ${city}`;
          },
        }),
      },
      stopWhen: stepCountIs(4),
    });
    const kinds = new Set<string>();
    for await (const p of r.fullStream) kinds.add(p.type);
    expect(executed).toBe(1);
    expect((await r.steps).map((st) => st.finishReason)).toEqual(["tool-calls", "stop"]);
    expect(await r.text).toContain("Tool get_weather returned");
    expect(kinds.has("error")).toBe(false);
    const usage = await r.totalUsage;
    expect(usage.outputTokens).toBe(3 + 12); // the call (3 fragments) + the 12-chunk answer
  });

  test("Vercel AI SDK streamObject: partial objects, then the whole one", async () => {
    const pipbot = createOpenAICompatible({
      name: "pipbot",
      baseURL: `${s.server.url}/v1`,
      apiKey: TOKEN,
      supportsStructuredOutputs: true,
    });
    const r = streamObject({ model: pipbot(model), schema: Event, prompt: "an event as json" });
    const partials: unknown[] = [];
    for await (const p of r.partialObjectStream) partials.push(p);
    expect(partials.length).toBeGreaterThan(1);
    expect(await r.object).toEqual(EVENT);
  });

  test("LangChain: .stream() with bound tools gives the call and usage_metadata; withStructuredOutput", async () => {
    const llm = new ChatOpenAI({
      model,
      apiKey: TOKEN,
      configuration: { baseURL: `${s.server.url}/v1` },
      maxRetries: 0,
    });
    let acc: AIMessageChunk | undefined;
    for await (const c of await llm.bindTools([WEATHER_TOOL]).stream("weather in Paris?"))
      acc = acc ? acc.concat(c) : c;
    expect(acc?.tool_calls?.map((t) => [t.name, t.args])).toEqual([["get_weather", { city: "Paris" }]]);
    expect(acc?.usage_metadata?.output_tokens).toBe(3);
    expect(acc?.response_metadata?.finish_reason).toBe("tool_calls");

    for (const method of ["jsonSchema", "functionCalling"] as const)
      expect(await llm.withStructuredOutput(Event, { method }).invoke("an event as json")).toEqual(EVENT);
  });
});
