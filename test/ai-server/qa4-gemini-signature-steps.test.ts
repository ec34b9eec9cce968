/**
 * Thought signatures over THREE tool steps with parallel calls, as the Gemini API sends them: each
 * step's answer is a thought summary and two function calls of which only the FIRST carries a
 * `thoughtSignature` (the simulator signs every call), and the next request must give each step's
 * first call its signature back (Gemini 3 answers 400 otherwise). Through the openai SDK (stream and
 * not, history sent back as received), the Vercel AI SDK (multi-step; it drops the signatures, the
 * AI server restores them) and LangChain (manual loop; it drops them too). The upstream is a
 * test-local fake of that wire that checks every signature it gets back.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { type AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import { jsonSchema, stepCountIs, streamText, tool } from "ai";
import OpenAI from "openai";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { directUpstream, startTestAiServer, type TestAiServer } from "./harness.ts";

const STEPS = 3;
// biome-ignore lint/suspicious/noExplicitAny: Gemini request bodies walked loosely
type Json = any;

let sim: UpstreamSim;
let fake: ReturnType<typeof Bun.serve>;
let s: TestAiServer;
let client: OpenAI;
/** Every request the fake saw: its status and, for a 400, why. */
const seen: { status: number; why?: string }[] = [];

/** Gemini 3's check: the first functionCall of each model step must carry its signature back. */
function badSignature(contents: Json[]): string | undefined {
  let step = 0;
  for (const c of contents) {
    const calls = (c.parts ?? []).filter((p: Json) => p.functionCall);
    if (c.role !== "model" || calls.length === 0) continue;
    if (calls[0].thoughtSignature !== `sig_step${step}`)
      return `Function call is missing a thought_signature in functionCall parts (step ${step}, got ${calls[0].thoughtSignature})`;
    step++;
  }
  return undefined;
}

function answer(contents: Json[]): Json[] {
  const step = contents.filter((c) => c.role === "model").length;
  const usageMetadata = {
    promptTokenCount: 20,
    candidatesTokenCount: 4,
    thoughtsTokenCount: 6,
    totalTokenCount: 30,
  };
  if (step >= STEPS)
    return [
      { candidates: [{ content: { role: "model", parts: [{ text: "all done" }] }, index: 0 }] },
      {
        candidates: [{ content: { role: "model", parts: [{ text: "" }] }, finishReason: "STOP", index: 0 }],
        usageMetadata,
      },
    ];
  return [
    {
      candidates: [
        { content: { role: "model", parts: [{ text: `planning step ${step}`, thought: true }] }, index: 0 },
      ],
    },
    {
      candidates: [
        {
          content: {
            role: "model",
            parts: [
              {
                functionCall: { name: "get_weather", args: { city: `Paris${step}` } },
                thoughtSignature: `sig_step${step}`,
              },
              { functionCall: { name: "get_weather", args: { city: `Rome${step}` } } },
            ],
          },
          finishReason: "STOP",
          index: 0,
        },
      ],
      usageMetadata,
    },
  ];
}

/** The chunks of one answer merged into the whole response (what :generateContent returns). */
function whole(chunks: Json[]): Json {
  const parts = chunks.flatMap((c) => c.candidates[0].content.parts).filter((p: Json) => p.text !== "");
  const last = chunks.at(-1);
  return {
    candidates: [{ ...last.candidates[0], content: { role: "model", parts } }],
    usageMetadata: last.usageMetadata,
  };
}

beforeAll(async () => {
  sim = await startUpstreamSim();
  fake = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const body = (await req.json()) as Json;
      const why = badSignature(body.contents);
      seen.push({ status: why ? 400 : 200, ...(why ? { why } : {}) });
      if (why)
        return Response.json(
          { error: { code: 400, message: why, status: "INVALID_ARGUMENT" } },
          { status: 400 },
        );
      const chunks = answer(body.contents);
      if (new URL(req.url).pathname.endsWith(":streamGenerateContent"))
        return new Response(chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join(""), {
          headers: { "content-type": "text/event-stream" },
        });
      return Response.json(whole(chunks));
    },
  });
  const up = directUpstream(sim);
  up.baseUrls = { ...up.baseUrls, google: `http://127.0.0.1:${fake.port}` };
  s = await startTestAiServer(sim, { maxRetries: 0 }, up);
  client = new OpenAI({ apiKey: "any", baseURL: `${s.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await s.stop();
  await fake.stop(true);
  await sim.stop();
});

const model = "google/gemini-3-pro-preview";
const WEATHER = {
  type: "function" as const,
  function: {
    name: "get_weather",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};
const PROMPT = "weather in six cities, three steps";

function since(n: number) {
  return seen.slice(n);
}

describe("three tool steps, two parallel calls each, only the first signed", () => {
  for (const stream of [false, true]) {
    test(`openai SDK ${stream ? "stream (.stream() helper)" : "non-stream"}: history sent back as received`, async () => {
      const n = seen.length;
      const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: PROMPT }];
      for (let step = 0; step <= STEPS; step++) {
        const msg = stream
          ? (
              await client.chat.completions
                .stream({ model, messages, tools: [WEATHER], reasoning_effort: "low" })
                .finalChatCompletion()
            ).choices[0]?.message
          : (
              await client.chat.completions.create({
                model,
                messages,
                tools: [WEATHER],
                reasoning_effort: "low",
              })
            ).choices[0]?.message;
        if (!msg?.tool_calls?.length) {
          expect(msg?.content).toBe("all done");
          break;
        }
        expect(msg.tool_calls).toHaveLength(2);
        messages.push(msg as OpenAI.ChatCompletionMessageParam);
        for (const c of msg.tool_calls)
          if (c.type === "function")
            messages.push({ role: "tool", tool_call_id: c.id, content: `sunny in ${c.function.arguments}` });
      }
      expect(since(n)).toEqual([{ status: 200 }, { status: 200 }, { status: 200 }, { status: 200 }]);
    });
  }

  test("Vercel AI SDK streamText, multi-step (signatures dropped by the SDK, restored by the server)", async () => {
    const n = seen.length;
    const pipbot = createOpenAICompatible({
      name: "pipbot",
      baseURL: `${s.url}/v1`,
      apiKey: "any",
      includeUsage: true,
    });
    const r = streamText({
      model: pipbot(model),
      prompt: PROMPT,
      maxRetries: 0,
      stopWhen: stepCountIs(STEPS + 2),
      tools: {
        get_weather: tool({
          inputSchema: jsonSchema<{ city: string }>(WEATHER.function.parameters),
          execute: async ({ city }) => `sunny in ${city}`,
        }),
      },
    });
    expect(await r.text).toBe("all done");
    expect((await r.steps).map((st) => st.finishReason)).toEqual([
      "tool-calls",
      "tool-calls",
      "tool-calls",
      "stop",
    ]);
    expect((await r.totalUsage).outputTokenDetails.reasoningTokens).toBe(6 * (STEPS + 1));
    expect(since(n)).toEqual([{ status: 200 }, { status: 200 }, { status: 200 }, { status: 200 }]);
  });

  test("LangChain bindTools, manual loop (signatures dropped, restored)", async () => {
    const n = seen.length;
    const lc = new ChatOpenAI({
      model,
      apiKey: "any",
      configuration: { baseURL: `${s.url}/v1` },
      maxRetries: 0,
    }).bindTools([WEATHER]);
    const history: BaseMessage[] = [new HumanMessage(PROMPT)];
    for (let step = 0; step <= STEPS; step++) {
      const m = (await lc.invoke(history)) as AIMessage;
      if (!m.tool_calls?.length) {
        expect(m.content).toBe("all done");
        break;
      }
      history.push(m);
      for (const c of m.tool_calls)
        history.push(new ToolMessage({ tool_call_id: c.id ?? "", content: "sunny" }));
    }
    expect(since(n)).toEqual([{ status: 200 }, { status: 200 }, { status: 200 }, { status: 200 }]);
  });
});
