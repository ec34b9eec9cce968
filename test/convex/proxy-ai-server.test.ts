/**
 * The REAL AI server in proxy mode against the REAL Convex usage proxy: the three official SDKs
 * call the loopback adapter (→ convex-test `t.fetch` → convex/proxy.ts → the upstream simulator).
 * Usage is recorded exactly once per request across retries, budgets are enforced through the
 * SDKs, and a client that goes away mid-stream leaves a closed ('cut') row, never a lost one.
 */
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { internal } from "../../convex/_generated/api";
import type { UpstreamSettings } from "../../src/ai-server/providers/index.ts";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { parseSse, postChat, startTestAiServer, type TestAiServer, uniqueKey } from "../ai-server/harness.ts";
import { waitFor } from "../helpers/index.ts";
import {
  type captureLogs,
  type Loopback,
  OPERATOR_KEY,
  providerEnv,
  SERVICE_TOKEN,
  startUserLoopback,
  type TestConvex,
  USER,
  type UserLoopback,
} from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

let sim: UpstreamSim;
let restoreEnv: () => void;
let convex: UserLoopback;
let t: TestConvex;
let lb: Loopback;
let ai: TestAiServer;
let logs: ReturnType<typeof captureLogs>;
// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON bodies
type Json = Record<string, any>;

beforeAll(async () => {
  sim = await startUpstreamSim();
  restoreEnv = providerEnv(sim.url);
  convex = await startUserLoopback();
  ({ t, logs, lb } = convex);
  const upstream: UpstreamSettings = {
    proxy: { siteUrl: lb.url, serviceToken: SERVICE_TOKEN, userId: USER, machineId: "machine-42" },
    keys: {},
    baseUrls: {},
  };
  ai = await startTestAiServer(sim, { maxRetries: 2 }, upstream);
});
afterAll(async () => {
  await ai.stop();
  await convex.stop();
  restoreEnv();
  await sim.stop();
});
afterEach(() => sim.reset());

const rows = () => t.run((ctx) => ctx.db.query("usage").collect());
const row = (requestId: string) => t.query(internal.usage.byRequest, { requestId });

describe("all three SDKs through the Convex proxy", () => {
  for (const provider of ["anthropic", "openai", "google"] as const)
    for (const stream of [false, true])
      test(`${provider} ${stream ? "stream" : "non-stream"}: one finalized usage row for the request`, async () => {
        const before = (await rows()).length;
        const res = await postChat(ai.url, {
          model: `${provider}/sim@tokens=3`,
          stream,
          metadata: { conversationId: "sess-9" },
          messages: [{ role: "user", content: "via convex, with a prompt long enough to count" }],
        });
        expect(res.status).toBe(200);
        const text = await res.text();
        if (stream) expect(parseSse(text).events.at(-1)?.event).toBe("done");
        else expect((JSON.parse(text) as Json).message.content[0].text).toContain("You said: via convex");
        const requestId = res.headers.get("x-pipbot-request-id")!;
        expect(requestId).toBeTruthy();
        expect((await rows()).length).toBe(before + 1);
        const r = (await row(requestId))!;
        expect(r).toMatchObject({
          status: "finalized",
          userId: USER,
          provider,
          attempts: 1,
          machineId: "machine-42",
          conversationId: "sess-9",
        });
        expect(r.outputTokens).toBe(3);
        expect(r.inputTokens).toBeGreaterThan(0);
        // Gemini: a non-stream caller's call is one :generateContent, metered from its JSON body.
        if (provider === "google")
          expect(sim.requests[0]!.path).toMatch(
            stream ? /:streamGenerateContent\?alt=sse$/ : /:generateContent$/,
          );
        // the provider saw the operator's key, never the VM's token
        const h = sim.requests[0]!.headers;
        expect(JSON.stringify(h)).toContain(OPERATOR_KEY);
        expect(JSON.stringify(h)).not.toContain(SERVICE_TOKEN);
      });

  test("the AI server's retries (529, 529, 200) are one row with three attempts, tokens once", async () => {
    const key = uniqueKey();
    const res = await postChat(ai.url, {
      model: `anthropic/sim@tokens=2,status=529,retry_after_ms=5,fail_times=2,key=${key}`,
      messages: [{ role: "user", content: "retry me through convex please" }],
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).attempts).toBe(3);
    const r = (await row(res.headers.get("x-pipbot-request-id")!))!;
    expect(r).toMatchObject({
      status: "finalized",
      attempts: 3,
      finishedAttempts: [1, 2, 3],
      outputTokens: 2,
    });
  });
});

test("google non-stream (one :generateContent): the row has the JSON body's thought and cached tokens, as the reply says", async () => {
  const res = await postChat(ai.url, {
    model: "google/sim@tokens=3,thoughts=4,cache_read=2",
    messages: [{ role: "user", content: "a whole answer through convex, with a prompt of some length" }],
  });
  const body = (await res.json()) as Json;
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(sim.requests.map((r) => [r.provider, r.stream, r.outcome])).toEqual([
    ["google", false, "completed"],
  ]);
  expect(sim.requests[0]!.path).toMatch(/:generateContent$/);
  const r = (await row(res.headers.get("x-pipbot-request-id")!))!;
  expect(r).toMatchObject({
    status: "finalized",
    provider: "google",
    attempts: 1,
    outputTokens: 3 + 4,
    reasoningTokens: 4,
    cacheReadTokens: 2,
  });
  expect(r.inputTokens).toBeGreaterThan(0);
  expect(body.usage).toMatchObject({
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    reasoningTokens: 4,
    cacheReadTokens: 2,
  });
});

test("a fallback to another provider under the same request id stays one row (the provider that answered)", async () => {
  const res = await postChat(ai.url, {
    model: "openai/sim@status=503,retry_after_ms=1",
    fallbacks: ["google/sim@tokens=1"],
    stream: true,
    messages: [{ role: "user", content: "fall back through convex" }],
  });
  expect(parseSse(await res.text()).events.at(-1)?.event).toBe("done");
  const r = (await row(res.headers.get("x-pipbot-request-id")!))!;
  expect(r).toMatchObject({ status: "finalized", provider: "google", attempts: 4, outputTokens: 1 });
});

describe("tools and images through the proxy", () => {
  const PNG_1PX =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
  for (const provider of ["anthropic", "openai", "google"] as const)
    test(`${provider}: a streamed tool call for a prompt with an image; one finalized row`, async () => {
      const res = await postChat(ai.url, {
        model: `${provider}/sim@fault=tool_call`,
        stream: true,
        tools: [
          {
            name: "get_weather",
            description: "weather by city",
            parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
          },
        ],
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "what is the weather where this picture was taken?" },
              { type: "image", mimeType: "image/png", data: PNG_1PX },
            ],
          },
        ],
      });
      if (res.status !== 200) throw new Error(await res.text());
      const events = parseSse(await res.text()).events;
      const call = events.find((e) => e.event === "tool_call")?.data as Json | undefined;
      expect(call?.name).toBe("get_weather");
      expect(call?.input).toEqual({ city: "Paris" });
      expect(events.at(-1)?.event).toBe("done");
      // the provider received the tool definition and the image bytes through the proxy
      const sent = JSON.stringify(sim.requests[0]!.body);
      expect(sent).toContain("get_weather");
      expect(sent).toContain(PNG_1PX);
      const r = (await row(res.headers.get("x-pipbot-request-id")!))!;
      expect(r.status).toBe("finalized");
    });
});

test("count_tokens (@anthropic-ai/sdk → AI server → proxy): forwarded with the operator's key, no usage row, no budget check", async () => {
  // A count generates nothing: the proxy forwards it even over budget and writes no usage row.
  await t.mutation(internal.budgets.set, { userId: USER, period: "day", limitUsd: 0 });
  try {
    const before = (await rows()).length;
    const claude = new Anthropic({ apiKey: "unused-by-a-tokenless-server", baseURL: ai.url, maxRetries: 0 });
    const counted = await claude.messages.countTokens({
      model: "claude-sim",
      system: "sys",
      messages: [{ role: "user", content: "count through convex" }],
    });
    expect(counted.input_tokens).toBe(Math.ceil("syscount through convex".length / 4));
    expect(sim.requests.map((r) => [r.path, r.status])).toEqual([["/v1/messages/count_tokens", 200]]);
    const h = JSON.stringify(sim.requests[0]!.headers);
    expect(h).toContain(OPERATOR_KEY);
    expect(h).not.toContain(SERVICE_TOKEN);
    expect((await rows()).length).toBe(before);
    const line = logs.lines
      .map((l) => JSON.parse(l) as Json)
      .findLast((l) => l.event === "llm_proxy" && l.path === "/v1/messages/count_tokens");
    expect(line).toMatchObject({
      provider: "anthropic",
      userId: USER,
      httpStatus: 200,
      usageStatus: "not_billed",
      model: "claude-sim",
    });
  } finally {
    await t.mutation(internal.budgets.set, { userId: USER, period: "day", limitUsd: null });
  }
});

describe("budgets through the SDKs", () => {
  afterEach(async () => {
    await t.mutation(internal.budgets.set, { userId: USER, period: "day", limitUsd: null });
    await t.mutation(internal.budgets.set, { userId: USER, period: "month", limitUsd: null });
  });

  test("over the daily budget: the AI server answers 429 without retrying; nothing reaches the provider", async () => {
    await t.mutation(internal.budgets.set, { userId: USER, period: "day", limitUsd: 0 });
    for (const provider of ["anthropic", "openai", "google"] as const) {
      const res = await postChat(ai.url, {
        model: `${provider}/sim`,
        messages: [{ role: "user", content: "x" }],
      });
      expect(res.status).toBe(429);
      const err = ((await res.json()) as Json).error;
      expect(err.message).toContain("daily budget");
    }
    expect(sim.requests).toHaveLength(0);
  });

  test("over the monthly budget: 402", async () => {
    await t.mutation(internal.budgets.set, { userId: USER, period: "month", limitUsd: 0 });
    const res = await postChat(ai.url, {
      model: "openai/sim",
      stream: true,
      messages: [{ role: "user", content: "x" }],
    });
    const text = await res.text();
    expect(text).toContain("monthly budget");
    expect(sim.requests).toHaveLength(0);
  });
});

test("a client that goes away mid-stream leaves a closed 'cut' row with the tokens seen so far", async () => {
  const controller = new AbortController();
  const res = await postChat(
    ai.url,
    {
      model: "anthropic/sim@tokens=400,rate=50",
      stream: true,
      messages: [{ role: "user", content: "long one" }],
    },
    {},
    controller.signal,
  );
  expect(res.status).toBe(200);
  const requestId = res.headers.get("x-pipbot-request-id")!;
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  // read until the model's text streams: the proxy is then mid-stream (not still connecting)
  const dec = new TextDecoder();
  let seen = "";
  while (!seen.includes("event: delta")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`the stream ended before any text: ${seen}`);
    seen += dec.decode(value, { stream: true });
  }
  // the row exists and says "started" while the stream runs (the first SSE bytes may come before
  // the proxy has written it: wait for it, bounded)
  const started = await waitFor(async () => (await row(requestId)) ?? null, {
    what: "the started usage row",
  });
  expect(started.status).toBe("started");
  controller.abort();
  const closed = await waitFor(
    async () => {
      const r = await row(requestId);
      return r && r.status !== "started" ? r : null;
    },
    { what: "the usage row closed after the client left" },
  );
  expect(closed.status).toBe("cut");
  expect(closed.inputTokens).toBeGreaterThan(0);
  expect(closed.outputTokens).toBeLessThan(400);
  expect(logs.lines.join("\n")).not.toContain(SERVICE_TOKEN);
  expect(logs.lines.join("\n")).not.toContain(OPERATOR_KEY);
});
