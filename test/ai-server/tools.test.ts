/**
 * Tools on every provider prefix, through the clients apps use: the `openai` SDK (round trip,
 * non-stream and streamed), the Vercel AI SDK (`generateText` with an executing tool over several
 * steps), LangChain (`bindTools`), and /chat's own `tool_call` event. Each test asserts on what
 * reached the upstream (the simulator records request bodies), not only on what came back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, stepCountIs, tool } from "ai";
import type OpenAI from "openai";
import { z } from "zod";
import { parseSse, postChat } from "./harness.ts";
import {
  PROVIDERS,
  type Surface,
  startSurface,
  TOKEN,
  upstreamBody,
  WEATHER_TOOL,
  type Wire,
} from "./surface-helpers.ts";

let s: Surface;
beforeAll(async () => {
  s = await startSurface();
});
afterAll(() => s.stop());
afterEach(() => s.sim.reset());

type Json = Wire;

/** The provider's native tool definition and the tool result as it reached the upstream. */
function nativeTool(provider: string, body: Json) {
  if (provider === "anthropic") return body.tools[0].input_schema;
  if (provider === "openai") return body.tools[0].function.parameters;
  return body.tools[0].functionDeclarations[0].parametersJsonSchema;
}

function nativeToolResult(provider: string, body: Json): { id?: string; content: unknown } {
  if (provider === "anthropic") {
    const b = body.messages.at(-1).content.find((x: Json) => x.type === "tool_result");
    return { id: b.tool_use_id, content: b.content };
  }
  if (provider === "openai") {
    const m = body.messages.find((x: Json) => x.role === "tool");
    return { id: m.tool_call_id, content: m.content };
  }
  const part = body.contents.at(-1).parts.find((x: Json) => x.functionResponse);
  return { id: part.functionResponse.id, content: part.functionResponse.response.result };
}

describe.each(PROVIDERS)("%s/", (provider) => {
  const model = `${provider}/sim`;

  test("openai SDK: tool round trip, non-stream", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "weather in Paris?" }];
    const r1 = await s.openai.chat.completions.create({
      model,
      messages,
      tools: [WEATHER_TOOL],
      tool_choice: "auto",
    });
    const choice = r1.choices[0]!;
    expect(choice.finish_reason).toBe("tool_calls");
    const call = choice.message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Paris" });
    expect(nativeTool(provider, upstreamBody(s.sim, provider))).toEqual(WEATHER_TOOL.function.parameters);

    messages.push(choice.message, { role: "tool", tool_call_id: call.id, content: "Sunny, 21 °C" });
    const r2 = await s.openai.chat.completions.create({ model, messages, tools: [WEATHER_TOOL] });
    expect(r2.choices[0]?.message.content).toContain("Tool get_weather returned");
    expect(r2.choices[0]?.message.content).toContain("Sunny, 21 °C");
    expect(r2.choices[0]?.finish_reason).toBe("stop");
    const result = nativeToolResult(provider, upstreamBody(s.sim, provider));
    expect(result.id).toBe(call.id);
    expect(result.content).toBe("Sunny, 21 °C");
    if (provider === "google") {
      // The call went back with its thought signature (the simulator refuses it otherwise).
      const back = upstreamBody(s.sim, "google").contents[1].parts[0];
      expect(back.thoughtSignature).toStartWith("tsig_");
    }
  });

  test("openai SDK: streamed tool calls arrive as indexed fragments (two parallel calls)", async () => {
    const stream = await s.openai.chat.completions.create({
      model: `${model}@tool_calls=2`,
      messages: [{ role: "user", content: "two cities" }],
      tools: [WEATHER_TOOL],
      stream: true,
    });
    const calls: { id?: string; name?: string; args: string; fragments: number }[] = [];
    let finish: string | null = null;
    for await (const c of stream) {
      for (const t of c.choices[0]?.delta.tool_calls ?? []) {
        calls[t.index] ??= { args: "", fragments: 0 };
        const cur = calls[t.index]!;
        if (t.id) cur.id = t.id;
        if (t.function?.name) cur.name = t.function.name;
        if (t.function?.arguments) {
          cur.args += t.function.arguments;
          cur.fragments++;
        }
      }
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe("tool_calls");
    expect(calls).toHaveLength(2);
    for (const c of calls) {
      expect(c.name).toBe("get_weather");
      expect(JSON.parse(c.args)).toEqual({ city: "Paris" });
      // Anthropic and OpenAI stream the arguments in pieces; Gemini sends each call whole.
      expect(c.fragments).toBe(provider === "google" ? 1 : 3);
    }
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
  });

  test("tool_choice none / required / named and parallel_tool_calls reach the upstream natively", async () => {
    const none = await s.openai.chat.completions.create({
      model,
      messages: [{ role: "user", content: "no tools" }],
      tools: [WEATHER_TOOL],
      tool_choice: "none",
    });
    expect(none.choices[0]?.finish_reason).toBe("stop");
    expect(none.choices[0]?.message.tool_calls).toBeUndefined();
    const b = upstreamBody(s.sim, provider);
    if (provider === "anthropic") expect(b.tool_choice).toEqual({ type: "none" });
    if (provider === "openai") expect(b.tool_choice).toBe("none");
    if (provider === "google") expect(b.toolConfig.functionCallingConfig.mode).toBe("NONE");

    await s.openai.chat.completions.create({
      model,
      messages: [{ role: "user", content: "named" }],
      tools: [WEATHER_TOOL],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      ...(provider === "google" ? {} : { parallel_tool_calls: false }),
    });
    const n = upstreamBody(s.sim, provider);
    if (provider === "anthropic")
      expect(n.tool_choice).toEqual({ type: "tool", name: "get_weather", disable_parallel_tool_use: true });
    if (provider === "openai") {
      expect(n.tool_choice).toEqual({ type: "function", function: { name: "get_weather" } });
      expect(n.parallel_tool_calls).toBe(false);
    }
    if (provider === "google")
      expect(n.toolConfig.functionCallingConfig).toEqual({
        mode: "ANY",
        allowedFunctionNames: ["get_weather"],
      });
  });

  test("Vercel AI SDK: generateText runs the tool and finishes in a later step", async () => {
    const pipbot = createOpenAICompatible({ name: "pipbot", baseURL: `${s.server.url}/v1`, apiKey: TOKEN });
    let executed = 0;
    const r = await generateText({
      model: pipbot(model),
      prompt: "What is the weather in Paris?",
      tools: {
        get_weather: tool({
          description: "Current weather of a city",
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => {
            executed++;
            return `Sunny in ${city}`;
          },
        }),
      },
      stopWhen: stepCountIs(4),
    });
    expect(executed).toBe(1);
    expect(r.steps.length).toBe(2);
    expect(r.text).toContain("Tool get_weather returned");
    expect(r.text).toContain("Sunny in Paris");
    expect(nativeToolResult(provider, upstreamBody(s.sim, provider)).content).toBe("Sunny in Paris");
    // The AI SDK does not send Gemini's thought signature back; the AI server restores it (the
    // simulator, like Gemini 3, refuses a function call without one).
    if (provider === "google")
      expect(upstreamBody(s.sim, "google").contents[1].parts[0].thoughtSignature).toStartWith("tsig_");
  });

  test("LangChain: bindTools gives tool_calls", async () => {
    const llm = new ChatOpenAI({
      model,
      apiKey: TOKEN,
      configuration: { baseURL: `${s.server.url}/v1` },
      maxRetries: 0,
    });
    const bound = llm.bindTools([{ type: "function", function: { ...WEATHER_TOOL.function } }]);
    const msg = await bound.invoke("weather in Paris?");
    expect(msg.tool_calls?.[0]?.name).toBe("get_weather");
    expect(msg.tool_calls?.[0]?.args).toEqual({ city: "Paris" });
    expect(nativeTool(provider, upstreamBody(s.sim, provider))).toEqual(WEATHER_TOOL.function.parameters);
  });

  test("/chat: a documented tool_call event, then the result in a tool_result part", async () => {
    const tools = [{ name: "get_weather", parameters: WEATHER_TOOL.function.parameters }];
    const res = await postChat(
      s.server.url,
      { model, stream: true, tools, messages: [{ role: "user", content: "weather?" }] },
      { authorization: `Bearer ${TOKEN}` },
    );
    const { events } = parseSse(await res.text());
    const call = events.find((e) => e.event === "tool_call")?.data as Json;
    expect(call).toMatchObject({ index: 0, name: "get_weather", input: { city: "Paris" } });
    const done = events.find((e) => e.event === "done")?.data as Json;
    expect(done.stopReason).toBe("tool_use");
    const assistant = done.message;
    const res2 = await postChat(
      s.server.url,
      {
        model,
        tools,
        messages: [
          { role: "user", content: "weather?" },
          assistant,
          { role: "user", content: [{ type: "tool_result", toolCallId: call.id, content: "Rain" }] },
        ],
      },
      { authorization: `Bearer ${TOKEN}` },
    );
    const body = (await res2.json()) as Json;
    expect(body.stopReason).toBe("end_turn");
    expect(body.message.content[0].text).toContain("Tool get_weather returned");
    expect(nativeToolResult(provider, upstreamBody(s.sim, provider)).id).toBe(call.id);
  });
});

test("a tool result without its call is refused by the upstream as the real API would (simulator fidelity)", async () => {
  const res = await s.openai.chat.completions
    .create({
      model: "anthropic/sim",
      messages: [
        { role: "user", content: "x" },
        { role: "tool", tool_call_id: "nope", content: "y" },
      ],
    })
    .catch((e) => e);
  expect(res.status).toBe(400);
  expect(String(res.message)).toContain("unexpected `tool_use_id`");
});
