/**
 * Anthropic for a non-stream caller: one non-stream `POST /v1/messages` upstream (no SSE), and the
 * reply equal to what the same request gives streamed — plain text, signed thinking, tool calls,
 * json_object mode, cache and thinking usage — on /chat and on /v1/messages through the real
 * `@anthropic-ai/sdk`. A max_tokens the SDK would refuse without streaming is streamed; a 529 is
 * retried; a cut body is a clean, retried connection error.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { parseSse, postChat, startTestAiServer, type TestAiServer, uniqueKey } from "./harness.ts";

// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON bodies
type Json = Record<string, any>;

const TOKEN = "whole-token-0123456789";
const auth = { authorization: `Bearer ${TOKEN}` };
let sim: UpstreamSim;
let server: TestAiServer;
let claude: Anthropic;

beforeAll(async () => {
  sim = await startUpstreamSim();
  server = await startTestAiServer(sim, { token: TOKEN });
  claude = new Anthropic({ apiKey: TOKEN, baseURL: server.url, maxRetries: 0 });
});
afterAll(async () => {
  await server.stop();
  await sim.stop();
});
afterEach(() => sim.reset());

/** The simulator's ids (message, signatures, tool call ids) differ per request: compare without them. */
const sameIds = (v: unknown): unknown => JSON.parse(JSON.stringify(v).replace(/msg_sim\d+/g, "msg_sim"));

/** The upstream requests since the last reset, as `stream` flags of the bodies sent. */
const upstreamStreams = () => sim.requests.map((r) => (r.body as Json).stream);

/** The same /chat request non-stream, then streamed: both answers and what each sent upstream. */
async function bothWays(body: Json): Promise<{ whole: Json; streamed: Json }> {
  const res = await postChat(server.url, body, auth);
  expect(res.status).toBe(200);
  const whole = (await res.json()) as Json;
  // One upstream request, not streamed (no `stream` field at all).
  expect(upstreamStreams()).toEqual([undefined]);
  expect(sim.requests[0]?.stream).toBe(false);
  sim.reset();
  const events = parseSse(await (await postChat(server.url, { ...body, stream: true }, auth)).text()).events;
  expect(events.at(-1)?.event).toBe("done");
  expect(upstreamStreams()).toEqual([true]);
  return { whole, streamed: events.at(-1)?.data as Json };
}

function expectSame(whole: Json, streamed: Json) {
  expect(sameIds(whole.message)).toEqual(sameIds(streamed.message));
  expect(whole.stopReason).toBe(streamed.stopReason);
  expect(whole.usage).toEqual(streamed.usage);
  expect(whole.attempts).toBe(1);
}

describe("/chat non-stream: one non-stream upstream request, the same reply as streamed", () => {
  test("plain text", async () => {
    const { whole, streamed } = await bothWays({
      model: "anthropic/sim@tokens=4",
      messages: [{ role: "user", content: "hello" }],
    });
    expectSame(whole, streamed);
    expect(whole.message.content).toEqual([{ type: "text", text: "You said: hello. w1 w2 w3" }]);
    expect(whole.stopReason).toBe("end_turn");
    expect(whole.usage).toMatchObject({ outputTokens: 4 });
    expect(whole.usage.inputTokens).toBeGreaterThan(0);
  });

  test("thinking: the reasoning block keeps its signature", async () => {
    const { whole, streamed } = await bothWays({
      model: "anthropic/sim@tokens=2",
      reasoning: { effort: "low" },
      messages: [{ role: "user", content: "ponder" }],
    });
    expectSame(whole, streamed);
    expect(whole.message.content[0]).toEqual({
      type: "reasoning",
      text: "Thinking about: ponder",
      signature: expect.stringMatching(/^sig_msg_sim\d+$/),
    });
    expect(whole.message.content[1]).toEqual({ type: "text", text: "You said: ponder. w1" });
    expect(whole.usage.reasoningTokens).toBeGreaterThan(0);
  });

  test("a tool call after text (fault=tool_call), and two parallel calls of an offered tool", async () => {
    const one = await bothWays({
      model: "anthropic/sim@fault=tool_call",
      messages: [{ role: "user", content: "w" }],
    });
    expectSame(one.whole, one.streamed);
    expect(one.whole.stopReason).toBe("tool_use");
    expect(one.whole.message.content).toEqual([
      { type: "text", text: "You said: w." },
      { type: "tool_call", id: "toolu_sim_1", name: "get_weather", input: { city: "Paris" } },
    ]);
    sim.reset();
    const tools = [
      { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
    ];
    const two = await bothWays({
      model: "anthropic/sim@tool_calls=2",
      tools,
      messages: [{ role: "user", content: "weather?" }],
    });
    expectSame(two.whole, two.streamed);
    const calls = (two.whole.message.content as Json[]).filter((p) => p.type === "tool_call");
    expect(calls.map((c) => c.input)).toEqual([{ city: "Paris" }, { city: "Paris" }]);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
  });

  test("json_object mode: the forced tool's input is the reply's text", async () => {
    const { whole, streamed } = await bothWays({
      model: "anthropic/sim",
      response_format: { type: "json_object" },
      messages: [{ role: "user", content: "as json" }],
    });
    expectSame(whole, streamed);
    expect(whole.message.content).toHaveLength(1);
    expect(JSON.parse(whole.message.content[0].text)).toEqual({ reply: "You said: as json" });
  });

  test("cache read / write and thinking tokens come back in usage", async () => {
    const { whole, streamed } = await bothWays({
      model: "anthropic/sim@tokens=3,cache_read=4,cache_write=6,thoughts=5",
      messages: [{ role: "user", content: "cached" }],
    });
    expectSame(whole, streamed);
    expect(whole.usage).toMatchObject({
      outputTokens: 3,
      cacheReadTokens: 4,
      cacheWriteTokens: 6,
      reasoningTokens: 5,
    });
  });
});

describe("/chat non-stream: when Anthropic must stream, and failures", () => {
  test("a max_tokens the SDK would refuse without streaming (> 21 333) is streamed upstream", async () => {
    const ask = (max_tokens: number) =>
      postChat(
        server.url,
        { model: "anthropic/sim@tokens=3", max_tokens, messages: [{ role: "user", content: "long" }] },
        auth,
      );
    const res = await ask(64_000);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).message.content[0].text).toBe("You said: long. w1 w2");
    expect(upstreamStreams()).toEqual([true]);
    expect(sim.requests[0]?.stream).toBe(true);
    sim.reset();
    // The largest max_tokens still within the SDK's 10 minutes: one non-stream request.
    expect((await ask(21_333)).status).toBe(200);
    expect(upstreamStreams()).toEqual([undefined]);
  });

  test("an upstream 529 is retried; every attempt is a non-stream request", async () => {
    const res = await postChat(
      server.url,
      {
        model: `anthropic/sim@status=529,retry_after_ms=1,fail_times=1,key=${uniqueKey()},tokens=2`,
        messages: [{ role: "user", content: "busy" }],
      },
      auth,
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.attempts).toBe(2);
    expect(body.message.content[0].text).toBe("You said: busy. w1");
    expect(sim.requests.map((r) => `${r.status}:${r.stream}`)).toEqual(["529:false", "200:false"]);
  });

  test("a body cut mid-way is a retried connection error, then the fallback answers", async () => {
    const cut = "anthropic/sim@fault=cut_after:2,tokens=6";
    const res = await postChat(
      server.url,
      { model: cut, fallbacks: ["anthropic/sim@tokens=2"], messages: [{ role: "user", content: "cut" }] },
      auth,
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.message.content).toEqual([{ type: "text", text: "You said: cut. w1" }]);
    // maxRetries 2: three cut attempts, then the fallback; none streamed.
    expect(body.attempts).toBe(4);
    expect(sim.requests.map((r) => `${r.outcome}:${r.stream}`)).toEqual([
      "cut:false",
      "cut:false",
      "cut:false",
      "completed:false",
    ]);
    sim.reset();
    const alone = await postChat(
      server.url,
      { model: cut, messages: [{ role: "user", content: "cut" }] },
      auth,
    );
    expect(alone.status).toBe(502);
    const err = ((await alone.json()) as Json).error;
    expect(err.code).toBe("upstream_connection");
    expect(err.message).toStartWith("anthropic upstream connection failed");
  });
});

describe("/v1/messages through @anthropic-ai/sdk: create() is one non-stream upstream request", () => {
  const cases: [string, Anthropic.MessageCreateParamsNonStreaming][] = [
    [
      "text with cache usage",
      {
        model: "claude-sim@tokens=3,cache_read=2,cache_write=7",
        max_tokens: 100,
        messages: [{ role: "user", content: "hi" }],
      },
    ],
    [
      "thinking",
      {
        model: "claude-sim@tokens=2",
        max_tokens: 4000,
        thinking: { type: "enabled", budget_tokens: 2000 },
        messages: [{ role: "user", content: "ponder" }],
      },
    ],
    [
      "a tool call",
      {
        model: "claude-sim",
        max_tokens: 100,
        tools: [
          { name: "get_weather", input_schema: { type: "object", properties: { city: { type: "string" } } } },
        ],
        messages: [{ role: "user", content: "weather?" }],
      },
    ],
  ];
  for (const [name, params] of cases)
    test(name, async () => {
      const m = await claude.messages.create(params);
      expect(upstreamStreams()).toEqual([undefined]);
      sim.reset();
      const s = await claude.messages.stream(params).finalMessage();
      expect(upstreamStreams()).toEqual([true]);
      // The SDK's stream accumulator adds `parsed_output: null`; ids are per request.
      const strip = ({ id: _id, ...rest }: Anthropic.Message & { parsed_output?: unknown }) =>
        sameIds({ ...rest, parsed_output: null });
      expect(strip(m)).toEqual(strip(s));
      expect(m.content.length).toBeGreaterThan(0);
      if (name === "thinking")
        expect(m.content[0]).toMatchObject({ type: "thinking", signature: expect.stringMatching(/^sig_/) });
      if (name === "a tool call")
        expect(m.content.at(-1)).toMatchObject({ type: "tool_use", input: { city: "Paris" } });
      if (name.includes("cache"))
        expect(m.usage).toMatchObject({ cache_read_input_tokens: 2, cache_creation_input_tokens: 7 });
    });
});
