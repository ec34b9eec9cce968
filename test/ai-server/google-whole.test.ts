/**
 * Gemini for a non-stream caller: ONE non-stream `:generateContent` upstream request (not a
 * `:streamGenerateContent` assembled here), its whole response mapped by the same code as a stream
 * chunk — so the reply equals what the same request gives streamed. Through POST /chat and the
 * `openai` SDK against the upstream simulator, which records every request.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type OpenAI from "openai";
import type { UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { parseSse, postChat, uniqueKey } from "./harness.ts";
import { type Surface, startSurface, TOKEN, WEATHER_TOOL, type Wire } from "./surface-helpers.ts";

let s: Surface;
beforeAll(async () => {
  s = await startSurface();
});
afterAll(() => s.stop());
afterEach(() => s.sim.reset());

type Json = Wire;
const AUTH = { authorization: `Bearer ${TOKEN}` };
const PROMPT = "tell me something, in a prompt of a few words";
const WHOLE = /:generateContent$/;
const STREAMED = /:streamGenerateContent\?alt=sse$/;

/** The google requests the simulator saw, as `<path kind> <status>` (kind: whole | stream). */
const upstream = (sim: UpstreamSim) =>
  sim.requests.map(
    (r) => `${WHOLE.test(r.path) ? "whole" : STREAMED.test(r.path) ? "stream" : r.path} ${r.status}`,
  );

/** The body of the simulator's i-th request. */
function sent(i: number): Json {
  const r = s.sim.requests[i];
  if (!r) throw new Error(`the simulator saw no request ${i}: ${upstream(s.sim).join(", ")}`);
  return r.body;
}

/**
 * A reply without what differs between two answers: tool call ids (minted per answer: the Gemini
 * API sends none) and the simulator's response id inside thought signatures.
 */
function comparable(r: Json): Json {
  const same = (p: Json) => ({ ...p, id: "<id>", signature: p.signature.replace(/resp_sim\d+/, "<resp>") });
  return {
    message: {
      ...r.message,
      content: r.message.content.map((p: Json) => (p.type === "tool_call" ? same(p) : p)),
    },
    stopReason: r.stopReason,
    usage: r.usage,
  };
}

/** The same /chat request non-stream, then streamed: both replies and the upstream requests made. */
async function chatBoth(body: Json): Promise<{ whole: Json; streamed: Json; requests: string[] }> {
  const res = await postChat(s.server.url, body, AUTH);
  const whole = (await res.json()) as Json;
  expect(res.status, JSON.stringify(whole)).toBe(200);
  const sse = await postChat(s.server.url, { ...body, stream: true }, AUTH);
  const done = parseSse(await sse.text()).events.at(-1);
  expect(done?.event).toBe("done");
  return { whole, streamed: done?.data as Json, requests: upstream(s.sim) };
}

describe("POST /chat without stream: one :generateContent request, the streamed reply's equal", () => {
  test("plain text", async () => {
    const { whole, streamed, requests } = await chatBoth({
      model: "google/sim@tokens=4",
      messages: [{ role: "user", content: "hello" }],
    });
    expect(requests).toEqual(["whole 200", "stream 200"]);
    expect(s.sim.requests[0]?.stream).toBe(false);
    expect(whole.message.content).toEqual([{ type: "text", text: "You said: hello. w1 w2 w3" }]);
    expect(whole).toMatchObject({ provider: "google", stopReason: "end_turn", attempts: 1 });
    expect(comparable(whole)).toEqual(comparable(streamed));
  });

  test("thought summaries → reasoning; usage with thought and cached tokens", async () => {
    const { whole, streamed, requests } = await chatBoth({
      model: "google/sim@tokens=3,thoughts=7,cache_read=2",
      reasoning: { effort: "low" },
      messages: [{ role: "user", content: PROMPT }],
    });
    expect(requests).toEqual(["whole 200", "stream 200"]);
    // Thinking was asked of Gemini (thought summaries included) in the non-stream request too.
    expect(sent(0).generationConfig.thinkingConfig.includeThoughts).toBe(true);
    expect(whole.message.content).toEqual([
      { type: "reasoning", text: `Thinking about: ${PROMPT}` },
      { type: "text", text: `You said: ${PROMPT}. w1 w2` },
    ]);
    // Thought tokens bill as output; cached tokens are not input.
    expect(whole.usage).toMatchObject({ reasoningTokens: 7, cacheReadTokens: 2, cacheWriteTokens: 0 });
    expect(whole.usage.outputTokens).toBe(2 + 3 + 7); // 2 thought parts + 3 text parts + 7 thoughts
    expect(whole.usage.inputTokens).toBeGreaterThan(0);
    expect(comparable(whole)).toEqual(comparable(streamed));
  });

  test("parallel function calls keep their thought signatures, which go back on the next turn", async () => {
    const tools = [{ name: "get_weather", parameters: WEATHER_TOOL.function.parameters }];
    const first = {
      model: "google/sim@tool_calls=2",
      tools,
      messages: [{ role: "user", content: "weather?" }],
    };
    const { whole, streamed, requests } = await chatBoth(first);
    expect(requests).toEqual(["whole 200", "stream 200"]);
    expect(whole.stopReason).toBe("tool_use");
    const calls = whole.message.content.filter((p: Json) => p.type === "tool_call");
    expect(calls).toHaveLength(2);
    const respId = s.sim.requests[0]?.id;
    calls.forEach((c: Json, i: number) => {
      expect(c).toMatchObject({
        name: "get_weather",
        input: { city: "Paris" },
        signature: `tsig_${respId}_${i}`,
      });
    });
    expect(new Set(calls.map((c: Json) => c.id)).size).toBe(2);
    expect(comparable(whole)).toEqual(comparable(streamed));

    s.sim.reset();
    const res = await postChat(
      s.server.url,
      {
        ...first,
        messages: [
          ...first.messages,
          whole.message,
          {
            role: "user",
            content: calls.map((c: Json) => ({ type: "tool_result", toolCallId: c.id, content: "Rain" })),
          },
        ],
      },
      AUTH,
    );
    const next = (await res.json()) as Json;
    expect(res.status, JSON.stringify(next)).toBe(200);
    expect(next.message.content[0].text).toContain("Tool get_weather returned");
    expect(upstream(s.sim)).toEqual(["whole 200"]);
    const back = sent(0).contents[1].parts;
    expect(back.map((p: Json) => p.thoughtSignature)).toEqual(calls.map((c: Json) => c.signature));
  });

  test("a legacy text-then-call answer (fault=tool_call): text, the call, tool_use", async () => {
    const { whole, streamed } = await chatBoth({
      model: "google/sim@fault=tool_call",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(whole.message.content.map((p: Json) => p.type)).toEqual(["text", "tool_call"]);
    expect(whole.message.content[1]).toMatchObject({ name: "get_weather", input: { city: "Paris" } });
    expect(comparable(whole)).toEqual(comparable(streamed));
  });

  test("MAX_TOKENS → max_tokens, as streamed", async () => {
    const { whole, streamed } = await chatBoth({
      model: "google/sim@tokens=5",
      max_tokens: 2,
      messages: [{ role: "user", content: "long" }],
    });
    expect(whole.stopReason).toBe("max_tokens");
    expect(comparable(whole)).toEqual(comparable(streamed));
  });
});

describe("the openai SDK, non-stream", () => {
  test("text and usage equal the streamed completion's; one :generateContent request", async () => {
    const model = "google/sim@tokens=3,thoughts=4,cache_read=1";
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: PROMPT }];
    const r = await s.openai.chat.completions.create({ model, messages });
    expect(upstream(s.sim)).toEqual(["whole 200"]);
    expect(r.choices[0]?.message.content).toBe(`You said: ${PROMPT}. w1 w2`);
    expect(r.choices[0]?.finish_reason).toBe("stop");
    expect(r.usage?.completion_tokens_details?.reasoning_tokens).toBe(4);
    expect(r.usage?.prompt_tokens_details?.cached_tokens).toBe(1);

    const stream = await s.openai.chat.completions.create({
      model,
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? "";
      usage = c.usage ?? usage;
    }
    expect(upstream(s.sim)).toEqual(["whole 200", "stream 200"]);
    expect(text).toBe(r.choices[0]?.message.content ?? "");
    expect(usage).toEqual(r.usage);
  });

  test("json mode (response_format json_schema): responseJsonSchema upstream, the same JSON back", async () => {
    const response_format = {
      type: "json_schema" as const,
      json_schema: {
        name: "city",
        schema: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } } },
      },
    };
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "a city" }];
    const r = await s.openai.chat.completions.create({ model: "google/sim", messages, response_format });
    expect(upstream(s.sim)).toEqual(["whole 200"]);
    const config = sent(0).generationConfig;
    expect(config.responseMimeType).toBe("application/json");
    expect(config.responseJsonSchema).toEqual(response_format.json_schema.schema);
    const content = r.choices[0]?.message.content ?? "";
    expect(JSON.parse(content)).toEqual({ city: "Paris", days: 2 });

    const stream = await s.openai.chat.completions.create({
      model: "google/sim",
      messages,
      response_format,
      stream: true,
    });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
    expect(text).toBe(content);
  });

  test("a function call round trip: the signature goes back with the call", async () => {
    const model = "google/sim";
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "weather in Paris?" }];
    const r1 = await s.openai.chat.completions.create({ model, messages, tools: [WEATHER_TOOL] });
    expect(r1.choices[0]?.finish_reason).toBe("tool_calls");
    const call = r1.choices[0]?.message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Paris" });
    const signature = `tsig_${s.sim.requests[0]?.id}_0`;
    messages.push(r1.choices[0]!.message, { role: "tool", tool_call_id: call.id, content: "Sunny" });
    const r2 = await s.openai.chat.completions.create({ model, messages, tools: [WEATHER_TOOL] });
    expect(r2.choices[0]?.message.content).toContain("Tool get_weather returned");
    expect(r2.choices[0]?.message.content).toContain("Sunny");
    expect(upstream(s.sim)).toEqual(["whole 200", "whole 200"]);
    const back = sent(1).contents[1].parts[0];
    expect(back).toMatchObject({
      functionCall: { name: "get_weather", id: call.id },
      thoughtSignature: signature,
    });
  });
});

describe("failures of the non-stream request", () => {
  test("503 then 429 (retry-after honoured) are retried; each attempt is one :generateContent", async () => {
    const key = uniqueKey();
    const res = await postChat(
      s.server.url,
      { model: `google/sim@tokens=2,fail_times=1,key=${key}`, messages: [{ role: "user", content: "r" }] },
      { ...AUTH, "x-sim-options": "status=503,retry_after_ms=1" },
    );
    const body = (await res.json()) as Json;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.attempts).toBe(2);
    expect(upstream(s.sim)).toEqual(["whole 503", "whole 200"]);

    s.sim.reset();
    const slow = await postChat(
      s.server.url,
      {
        model: `google/sim@tokens=2,status=429,retry_after=1,fail_times=1,key=${uniqueKey()}`,
        messages: [{ role: "user", content: "r" }],
      },
      AUTH,
    );
    expect(slow.status).toBe(200);
    expect(upstream(s.sim)).toEqual(["whole 429", "whole 200"]);
    const [first, second] = s.sim.requests;
    expect(second!.startedAt - first!.startedAt).toBeGreaterThanOrEqual(1000);
  });

  test("the error response's headers reach the retry loop: x-should-retry: false stops it", async () => {
    const res = await postChat(
      s.server.url,
      { model: "google/sim@status=503,should_retry=false", messages: [{ role: "user", content: "n" }] },
      AUTH,
    );
    const body = (await res.json()) as Json;
    expect(res.status).toBe(503);
    expect(body.error).toMatchObject({ retryable: false });
    expect(upstream(s.sim)).toEqual(["whole 503"]);
  });

  test("a cut JSON body is a clean, retried connection error; a fallback answers", async () => {
    const cut = await postChat(
      s.server.url,
      { model: "google/sim@fault=cut_after:2", messages: [{ role: "user", content: "c" }] },
      AUTH,
    );
    const err = (await cut.json()) as Json;
    expect(cut.status).toBe(502);
    expect(err.error).toMatchObject({ code: "upstream_connection", retryable: true });
    expect(upstream(s.sim)).toEqual(["whole 200", "whole 200", "whole 200"]);
    expect(s.sim.requests.map((r) => r.outcome)).toEqual(["cut", "cut", "cut"]);

    s.sim.reset();
    const res = await postChat(
      s.server.url,
      {
        model: "google/sim@fault=cut_after:2",
        fallbacks: ["google/sim@tokens=2"],
        messages: [{ role: "user", content: "c" }],
      },
      AUTH,
    );
    const body = (await res.json()) as Json;
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ attempts: 4, message: { content: [{ text: "You said: c. w1" }] } });
    expect(s.sim.requests.map((r) => r.outcome)).toEqual(["cut", "cut", "cut", "completed"]);
  });
});
