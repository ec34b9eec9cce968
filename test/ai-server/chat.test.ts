/** POST /chat through the real app, the real SDKs and the upstream simulator. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { countSse, readThrough, waitFor } from "../helpers/index.ts";
import { parseSse, postChat, readUntil, startTestAiServer, type TestAiServer, uniqueKey } from "./harness.ts";

let sim: UpstreamSim;
const servers: TestAiServer[] = [];

beforeAll(async () => {
  sim = await startUpstreamSim();
});
afterAll(() => sim.stop());
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  sim.reset();
});

async function server(
  settings: Parameters<typeof startTestAiServer>[1] = {},
  upstream?: Parameters<typeof startTestAiServer>[2],
) {
  const s = await startTestAiServer(sim, settings, upstream);
  servers.push(s);
  return s;
}

// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON bodies
type Json = Record<string, any>;

describe("all providers × stream / non-stream", () => {
  for (const provider of ["anthropic", "openai", "google"] as const) {
    test(`${provider} non-stream`, async () => {
      const s = await server();
      const res = await postChat(s.url, {
        model: `${provider}/sim@tokens=3`,
        messages: [{ role: "user", content: "hello" }],
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Json;
      expect(body.provider).toBe(provider);
      expect(body.message).toEqual({
        role: "assistant",
        content: [{ type: "text", text: "You said: hello. w1 w2" }],
      });
      expect(body.stopReason).toBe("end_turn");
      expect(body.usage.outputTokens).toBe(3);
      expect(body.usage.inputTokens).toBeGreaterThan(0);
      expect(body.attempts).toBe(1);
      expect(sim.requests).toHaveLength(1);
      expect(sim.requests[0]?.provider).toBe(provider);
      // A non-stream caller's reply is one non-stream upstream request (ProviderAdapter.complete).
      expect(sim.requests[0]?.stream).toBe(false);
    });

    test(`${provider} stream`, async () => {
      const s = await server();
      const res = await postChat(s.url, {
        model: `${provider}/sim@tokens=4`,
        stream: true,
        system: "be brief",
        messages: [
          { role: "user", content: "first" },
          { role: "assistant", content: [{ type: "text", text: "ok" }] },
          { role: "user", content: [{ type: "text", text: "second" }] },
        ],
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(res.headers.get("x-accel-buffering")).toBe("no");
      const { events } = parseSse(await res.text());
      expect(events.map((e) => e.event)).toEqual(["start", "delta", "delta", "delta", "delta", "done"]);
      expect((events[0]!.data as Json).provider).toBe(provider);
      const text = events
        .filter((e) => e.event === "delta")
        .map((e) => (e.data as Json).text)
        .join("");
      expect(text).toBe("You said: second. w1 w2 w3");
      const done = events.at(-1)?.data as Json;
      expect(done.message.content[0].text).toBe(text);
      expect(done.stopReason).toBe("end_turn");
      // Cumulative stream usage: the latest value, never a sum.
      expect(done.usage.outputTokens).toBe(4);
      expect(sim.requests[0]?.stream).toBe(true);
    });
  }

  test("gemini thought tokens count as output and reasoning (non-stream and stream)", async () => {
    const s = await server();
    const res = await postChat(s.url, {
      model: "google/sim@tokens=2,thoughts=7",
      messages: [{ role: "user", content: "x" }],
    });
    const body = (await res.json()) as Json;
    expect(body.usage.outputTokens).toBe(9);
    expect(body.usage.reasoningTokens).toBe(7);
    const streamed = await postChat(s.url, {
      model: "google/sim@tokens=3,thoughts=5",
      stream: true,
      messages: [{ role: "user", content: "x" }],
    });
    const done = parseSse(await streamed.text()).events.at(-1);
    expect(done?.event).toBe("done");
    expect((done!.data as Json).usage).toMatchObject({ outputTokens: 8, reasoningTokens: 5 });
  });

  test("bare model → default provider; no model → AI_DEFAULT_MODEL", async () => {
    const s = await server({ defaultModel: "openai/sim@tokens=2" });
    const a = (await (
      await postChat(s.url, { model: "sim@tokens=2", messages: [{ role: "user", content: "a" }] })
    ).json()) as Json;
    expect(a.provider).toBe("openai");
    const b = (await (await postChat(s.url, { messages: [{ role: "user", content: "b" }] })).json()) as Json;
    expect(b.provider).toBe("openai");
    expect(b.message.content[0].text).toBe("You said: b. w1");
  });
});

describe("retries and fallbacks", () => {
  test("429 with retry-after-ms, then success (one retry loop: the SDK does not retry)", async () => {
    const s = await server();
    const key = uniqueKey();
    const res = await postChat(s.url, {
      model: `openai/sim@status=429,retry_after_ms=20,fail_times=1,key=${key},tokens=2`,
      messages: [{ role: "user", content: "r" }],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.attempts).toBe(2);
    expect(sim.requests.map((r) => r.status)).toEqual([429, 200]);
  });

  test("429 with retry-after in seconds is honoured", async () => {
    const s = await server();
    const key = uniqueKey();
    const res = await postChat(s.url, {
      model: `anthropic/sim@status=429,retry_after=1,fail_times=1,key=${key}`,
      stream: true,
      messages: [{ role: "user", content: "r" }],
    });
    const { events } = parseSse(await res.text());
    expect(events.at(-1)?.event).toBe("done");
    const [first, second] = sim.requests;
    expect(second!.startedAt - first!.startedAt).toBeGreaterThanOrEqual(1000);
  });

  test("529 exhausts retries, then falls back to another provider", async () => {
    const s = await server({ maxRetries: 1 });
    const res = await postChat(s.url, {
      model: "anthropic/sim@status=529,retry_after_ms=1",
      fallbacks: ["openai/sim@tokens=2"],
      messages: [{ role: "user", content: "f" }],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.provider).toBe("openai");
    expect(body.attempts).toBe(3);
    expect(sim.requests.map((r) => `${r.provider}:${r.status}`)).toEqual([
      "anthropic:529",
      "anthropic:529",
      "openai:200",
    ]);
  });

  test("AI_FALLBACK_MODELS is used when the request names no fallbacks (stream)", async () => {
    const s = await server({ maxRetries: 0, fallbackModels: ["google/sim@tokens=2"] });
    const res = await postChat(s.url, {
      model: "openai/sim@status=503",
      stream: true,
      messages: [{ role: "user", content: "g" }],
    });
    const { events } = parseSse(await res.text());
    expect((events[0]!.data as Json).provider).toBe("google");
    expect(events.at(-1)?.event).toBe("done");
  });

  test("an error event before the first token is retried", async () => {
    const s = await server({ maxRetries: 0, fallbackModels: ["openai/sim@tokens=2"] });
    const res = await postChat(s.url, {
      model: "anthropic/sim@fault=error_after:0",
      stream: true,
      messages: [{ role: "user", content: "e" }],
    });
    const { events } = parseSse(await res.text());
    expect(events.map((e) => e.event)).toEqual(["start", "delta", "delta", "done"]);
    expect(sim.requests.map((r) => r.outcome)).toEqual(["error_event", "completed"]);
  });

  test("non-retryable errors are not retried: 400 from upstream → 400", async () => {
    const s = await server({ fallbackModels: ["openai/sim"] });
    const res = await postChat(s.url, {
      model: "anthropic/sim@status=400",
      messages: [{ role: "user", content: "x" }],
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error.code).toBe("invalid_request");
    expect(sim.requests).toHaveLength(1);
  });

  test("x-should-retry: false stops the retry of a 503; true retries a 400", async () => {
    const s = await server({ maxRetries: 2 });
    const no = await postChat(s.url, {
      model: "openai/sim@status=503,should_retry=false",
      messages: [{ role: "user", content: "x" }],
    });
    expect(no.status).toBe(503);
    expect(((await no.json()) as Json).error.retryable).toBe(false);
    expect(sim.requests).toHaveLength(1);
    sim.reset();
    const key = uniqueKey();
    const yes = await postChat(s.url, {
      model: `anthropic/sim@status=400,should_retry=true,retry_after_ms=1,fail_times=1,key=${key}`,
      messages: [{ role: "user", content: "x" }],
    });
    expect(yes.status).toBe(200);
    expect(((await yes.json()) as Json).attempts).toBe(2);
    expect(sim.requests.map((r) => r.status)).toEqual([400, 200]);
  });

  test("all attempts failing → the last error with its status and retry hint", async () => {
    const s = await server({ maxRetries: 1 });
    const res = await postChat(s.url, {
      model: "anthropic/sim@status=529,retry_after_ms=5",
      messages: [{ role: "user", content: "x" }],
    });
    expect(res.status).toBe(529);
    const body = (await res.json()) as Json;
    expect(body.error.code).toBe("upstream_overloaded");
    expect(body.error.retryable).toBe(true);
    expect(sim.requests).toHaveLength(2);
  });
});

describe("failures after the first token end the stream with an error event", () => {
  test("in-stream error event after the first token", async () => {
    const s = await server({ fallbackModels: ["openai/sim"] });
    const res = await postChat(s.url, {
      model: "anthropic/sim@fault=error_after:2",
      stream: true,
      messages: [{ role: "user", content: "x" }],
    });
    const { events } = parseSse(await res.text());
    expect(events.map((e) => e.event)).toEqual(["start", "delta", "delta", "error"]);
    const err = events.at(-1)?.data as Json;
    expect(err.code).toBe("upstream_overloaded");
    expect(typeof err.message).toBe("string");
    expect(sim.requests).toHaveLength(1); // no retry, no fallback after tokens were sent
  });

  for (const provider of ["anthropic", "openai", "google"] as const)
    test(`${provider}: connection cut mid-stream → error event, never done`, async () => {
      const s = await server({ maxRetries: 2, fallbackModels: ["openai/sim@tokens=2"] });
      const res = await postChat(s.url, {
        model: `${provider}/sim@fault=cut_after:2`,
        stream: true,
        messages: [{ role: "user", content: "x" }],
      });
      // The cut happens only once this caller has read both deltas: the AI server had them.
      const { text } = await readThrough(
        res,
        (t) => countSse(t, "delta") === 2,
        () => sim.releaseCuts(),
      );
      const { events } = parseSse(text);
      expect(events.filter((e) => e.event === "done")).toHaveLength(0);
      expect(events.at(-1)?.event).toBe("error");
      expect((events.at(-1)!.data as Json).code).toBe("upstream_connection");
      expect(events.filter((e) => e.event === "delta")).toHaveLength(2);
      expect(sim.requests).toHaveLength(1); // retryable, but tokens were sent: no retry
    });
});

describe("timeouts, each named", () => {
  const cases = [
    {
      phase: "connect",
      v: "AI_CONNECT_TIMEOUT_MS",
      model: "anthropic/sim@latency=3000",
      settings: { connectTimeoutMs: 100 },
    },
    {
      phase: "first-token",
      v: "AI_FIRST_TOKEN_TIMEOUT_MS",
      model: "openai/sim@ttft=3000",
      settings: { firstTokenTimeoutMs: 100 },
    },
    {
      phase: "idle",
      v: "AI_IDLE_TIMEOUT_MS",
      model: "google/sim@fault=gap:3000",
      settings: { idleTimeoutMs: 100 },
    },
    {
      phase: "total",
      v: "AI_TOTAL_TIMEOUT_MS",
      model: "anthropic/sim@tokens=100,rate=10",
      settings: { totalTimeoutMs: 300 },
    },
  ];
  for (const c of cases)
    test(`${c.phase} timeout → error event naming the phase; the upstream request is cancelled`, async () => {
      const s = await server({ ...c.settings, maxRetries: 0 });
      const res = await postChat(s.url, {
        model: c.model,
        stream: true,
        messages: [{ role: "user", content: "t" }],
      });
      const { events } = parseSse(await res.text());
      const err = events.at(-1);
      expect(err?.event).toBe("error");
      expect((err!.data as Json).code).toBe("timeout");
      expect((err!.data as Json).message).toContain(`${c.phase} timeout`);
      expect((err!.data as Json).message).toContain(c.v);
      await waitFor(() => sim.requests[0]?.aborted, {
        what: "simulator to see the upstream request aborted",
      });
    });

  // A non-stream caller's attempt is one non-stream upstream request: no tokens to time, the
  // whole answer is bounded by AI_RESPONSE_TIMEOUT_MS (and the total).
  const wholeCases = [
    { provider: "anthropic", model: "anthropic/sim@latency=3000" },
    { provider: "openai", model: "openai/sim@ttft=3000" },
    { provider: "google", model: "google/sim@fault=gap:3000" },
  ].map((c) => ({
    ...c,
    phase: "response",
    v: "AI_RESPONSE_TIMEOUT_MS",
    settings: { responseTimeoutMs: 100, connectTimeoutMs: 50, firstTokenTimeoutMs: 50 },
  }));
  for (const c of [
    ...wholeCases,
    { ...(cases[3] as (typeof cases)[number]), provider: "anthropic", settings: { totalTimeoutMs: 300 } },
  ])
    test(`non-stream (${c.provider}): ${c.phase} timeout → 504 naming the phase; the upstream request is cancelled`, async () => {
      const s = await server({ ...c.settings, maxRetries: 0 });
      const res = await postChat(s.url, { model: c.model, messages: [{ role: "user", content: "t" }] });
      expect(res.status).toBe(504);
      const err = ((await res.json()) as Json).error;
      expect(err.code).toBe("timeout");
      expect(err.message).toContain(`${c.phase} timeout`);
      expect(err.message).toContain(c.v);
      expect(sim.requests[0]?.stream).toBe(false);
      await waitFor(() => sim.requests[0]?.aborted, {
        what: "simulator to see the upstream request aborted",
      });
    });

  test("non-stream: a response timeout is retried like the token timeouts", async () => {
    const s = await server({ responseTimeoutMs: 100, maxRetries: 1 });
    const res = await postChat(s.url, {
      model: "openai/sim@ttft=3000",
      fallbacks: ["google/sim@tokens=2"],
      messages: [{ role: "user", content: "slow" }],
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).provider).toBe("google");
    expect(sim.requests.map((r) => `${r.provider}:${r.stream}`)).toEqual([
      "openai:false",
      "openai:false",
      "google:false",
    ]);
  });

  test("keep-alive comments while the upstream is silent", async () => {
    const s = await server({ keepAliveMs: 40 });
    const res = await postChat(s.url, {
      model: "anthropic/sim@ttft=400,tokens=2",
      stream: true,
      messages: [{ role: "user", content: "k" }],
    });
    const { events, comments } = parseSse(await res.text());
    expect(comments).toContain("keep-alive");
    expect(events.at(-1)?.event).toBe("done");
  });
});

describe("long non-stream replies (one non-stream upstream request each)", () => {
  test("a reply longer in total than the token timeouts succeeds: only AI_RESPONSE_TIMEOUT_MS bounds it (all providers, both APIs)", async () => {
    // 40 parts at 20/s: the simulator answers after ~2 s, above the 1 s first-token and idle
    // timeouts, which do not apply to a whole answer; the 10 s response timeout does.
    const s = await server({ firstTokenTimeoutMs: 1000, idleTimeoutMs: 1000, maxRetries: 0 });
    const msg = [{ role: "user", content: "long" }];
    const [chats, completion] = await Promise.all([
      Promise.all(
        (["anthropic", "openai", "google"] as const).map(async (provider) => {
          const res = await postChat(s.url, { model: `${provider}/sim@tokens=40,rate=20`, messages: msg });
          return { provider, status: res.status, body: (await res.json()) as Json };
        }),
      ),
      fetch(`${s.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "openai/sim@tokens=40,rate=20", messages: msg }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Json })),
    ]);
    // Longer than the token timeouts by construction (rate=20: the simulator answers after 39
    // gaps of 50 ms), asserted by what the simulator did rather than by a wall-clock measurement.
    const upstream = sim.requests.filter((r) => r.model.endsWith("@tokens=40,rate=20"));
    expect(upstream.map((r) => [r.outcome, r.stream])).toEqual(Array(4).fill(["completed", false]));
    const words = Array.from({ length: 39 }, (_, i) => ` w${i + 1}`).join("");
    for (const c of chats) {
      expect(c.status).toBe(200);
      expect(c.body.provider).toBe(c.provider);
      expect(c.body.message).toEqual({
        role: "assistant",
        content: [{ type: "text", text: `You said: long.${words}` }],
      });
      expect(c.body.stopReason).toBe("end_turn");
      expect(c.body.usage.outputTokens).toBe(40);
      expect(c.body.usage.estimated).toBeUndefined();
    }
    expect(completion.status).toBe(200);
    expect(completion.body.object).toBe("chat.completion");
    expect(completion.body.choices[0].message.content).toBe(`You said: long.${words}`);
    expect(completion.body.choices[0].finish_reason).toBe("stop");
    expect(completion.body.usage.completion_tokens).toBe(40);
    expect(sim.requests).toHaveLength(4);
    expect(sim.requests.every((r) => !r.stream && r.outcome === "completed")).toBe(true);
    // A non-stream OpenAI request: no stream options (the usage is in the body).
    for (const r of sim.requests.filter((r) => r.provider === "openai")) {
      expect((r.body as Json).stream).toBe(false);
      expect((r.body as Json).stream_options).toBeUndefined();
    }
  });

  test("usage is read from the whole answer and recorded, with the time to the answer", async () => {
    const s = await server({ maxRetries: 0 });
    const res = await postChat(s.url, {
      model: "anthropic/sim@tokens=4,cache_read=3,cache_write=2,ttft=50",
      metadata: { conversationId: "conv-ns" },
      messages: [{ role: "user", content: "usage" }],
    });
    const body = (await res.json()) as Json;
    expect(body.usage).toMatchObject({ outputTokens: 4, cacheReadTokens: 3, cacheWriteTokens: 2 });
    expect(body.usage.inputTokens).toBeGreaterThan(0);
    const row = await waitFor(() => s.usageRows()[0], { what: "usage row" });
    expect(row).toMatchObject({
      provider: "anthropic",
      status: "ok",
      output_tokens: 4,
      cache_read_tokens: 3,
      cache_write_tokens: 2,
      attempts: 1,
      conversation_id: "conv-ns",
    });
    expect(row.estimated).toBe(0);
    expect(Number(row.ttft_ms)).toBeGreaterThanOrEqual(45);
    expect(Number(row.ttft_ms)).toBeLessThanOrEqual(Number(row.latency_ms));
  });

  test("a failed or cut whole answer is retried and falls back: nothing had reached the caller", async () => {
    const s = await server({ maxRetries: 1 });
    // A non-stream caller sees nothing until the end: let every cut happen as soon as it comes
    // (whether the AI server read the two parts first or not, a non-stream reply retries either way).
    sim.releaseCuts();
    const res = await postChat(s.url, {
      model: "anthropic/sim@fault=error_after:2,tokens=6",
      fallbacks: ["openai/sim@fault=cut_after:2,tokens=6", "google/sim@tokens=3"],
      messages: [{ role: "user", content: "again" }],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.provider).toBe("google");
    // Only the answering attempt's text: no leftovers from the attempts that failed mid-reply.
    expect(body.message.content[0].text).toBe("You said: again. w1 w2");
    expect(body.attempts).toBe(5);
    expect(sim.requests.map((r) => `${r.provider}:${r.outcome}:${r.chunksSent}`)).toEqual([
      "anthropic:error:0",
      "anthropic:error:0",
      "openai:cut:0",
      "openai:cut:0",
      "google:completed:0",
    ]);
    const row = await waitFor(() => s.usageRows()[0], { what: "usage row" });
    expect(row).toMatchObject({ provider: "google", status: "ok", attempts: 5, output_tokens: 3 });
  });

  test("a mid-reply failure with no retries left → the error, recorded as a failed usage row", async () => {
    const s = await server({ maxRetries: 0 });
    // A non-stream caller cannot see the parts arrive, so nothing here may depend on the AI server
    // having read them before the reset (the estimated partial usage is proven by the streamed
    // "a stream cut mid-way" test below, which releases the cut only after seeing the deltas).
    sim.releaseCuts();
    const res = await postChat(s.url, {
      model: "openai/sim@fault=cut_after:3,tokens=50",
      messages: [{ role: "user", content: "cut" }],
    });
    expect(res.status).toBe(502);
    expect(((await res.json()) as Json).error.code).toBe("upstream_connection");
    const row = await waitFor(() => s.usageRows()[0], { what: "usage row" });
    expect(row).toMatchObject({ provider: "openai", status: "error", error_code: "upstream_connection" });
  });
});

describe("caller abort", () => {
  for (const provider of ["anthropic", "openai", "google"] as const)
    test(`${provider}: aborting the /chat fetch cancels the upstream request and records usage as aborted`, async () => {
      const s = await server();
      const ac = new AbortController();
      const res = await postChat(
        s.url,
        {
          model: `${provider}/sim@tokens=200,rate=20`,
          stream: true,
          metadata: { conversationId: "conv-1" },
          messages: [{ role: "user", content: "long" }],
        },
        {},
        ac.signal,
      );
      await readUntil(res, (t) => t.includes("event: delta"));
      ac.abort();
      const req = await waitFor(() => sim.requests.find((r) => r.aborted), {
        what: "simulator to see the upstream request aborted",
      });
      expect(req.chunksSent).toBeLessThan(200);
      const row = await waitFor(() => s.usageRows().find((r) => r.status === "aborted"), {
        what: "aborted usage row",
      });
      expect(row.provider).toBe(provider);
      expect(row.conversation_id).toBe("conv-1");
      expect(Number(row.output_tokens)).toBeGreaterThan(0);
      if (provider === "openai") expect(row.estimated).toBe(1); // include_usage never arrived
    });
});

test("aborting a non-stream /chat cancels the upstream request and records usage as aborted", async () => {
  const s = await server();
  const ac = new AbortController();
  const pending = postChat(
    s.url,
    { model: "anthropic/sim@latency=20000", messages: [{ role: "user", content: "wait" }] },
    {},
    ac.signal,
  ).catch((e: unknown) => e);
  await waitFor(() => sim.requests.length === 1, { what: "the upstream request" });
  ac.abort();
  await pending;
  await waitFor(() => sim.requests[0]?.aborted, { what: "simulator to see the upstream request aborted" });
  const row = await waitFor(() => s.usageRows().find((r) => r.status === "aborted"), {
    what: "aborted usage row",
  });
  expect(row).toMatchObject({ provider: "anthropic", output_tokens: 0 });
});

describe("usage accounting", () => {
  test("a stream cut mid-way is recorded as failed, with estimated output (the final usage never came)", async () => {
    const s = await server({ maxRetries: 0 });
    const res = await postChat(s.url, {
      model: "openai/sim@fault=cut_after:3,tokens=50",
      stream: true,
      messages: [{ role: "user", content: "cut" }],
    });
    const { text } = await readThrough(
      res,
      (t) => countSse(t, "delta") === 3,
      () => sim.releaseCuts(),
    );
    expect(parseSse(text).events.at(-1)?.event).toBe("error");
    const row = await waitFor(() => s.usageRows()[0], { what: "usage row" });
    expect(row).toMatchObject({ provider: "openai", status: "error", error_code: "upstream_connection" });
    expect(row.estimated).toBe(1);
    expect(Number(row.output_tokens)).toBeGreaterThan(0);
    expect(Number(row.input_tokens)).toBeGreaterThan(0);
  });

  test("completed and failed requests are recorded; GET /usage totals them", async () => {
    const s = await server({ maxRetries: 0 });
    await (
      await postChat(s.url, {
        model: "anthropic/sim@tokens=5,cache_read=3",
        stream: true,
        messages: [{ role: "user", content: "u" }],
      })
    ).text();
    await (
      await postChat(s.url, { model: "openai/sim@tokens=2", messages: [{ role: "user", content: "u" }] })
    ).text();
    await (
      await postChat(s.url, { model: "openai/sim@status=500", messages: [{ role: "user", content: "u" }] })
    ).text();
    // Non-stream usage is recorded just after the reply is sent (off the response path).
    const rows = await waitFor(() => (s.usageRows().length === 3 ? s.usageRows() : null), {
      what: "three usage rows",
    });
    expect(rows.map((r) => r.status)).toEqual(["ok", "ok", "error"]);
    expect(rows[0]).toMatchObject({
      provider: "anthropic",
      output_tokens: 5,
      cache_read_tokens: 3,
      attempts: 1,
    });
    expect(rows[2]).toMatchObject({ provider: "openai", error_code: "upstream_error" });
    expect(Number(rows[0]?.ttft_ms)).toBeGreaterThanOrEqual(0);

    const usage = (await (
      await fetch(`${s.url}/usage?since=${new Date(Date.now() - 60_000).toISOString()}`)
    ).json()) as Json;
    const anthropic = usage.totals.find((t: Json) => t.provider === "anthropic");
    expect(anthropic).toMatchObject({ requests: 1, outputTokens: 5, cacheReadTokens: 3 });
    const openai = usage.totals.filter((t: Json) => t.provider === "openai");
    expect(openai.reduce((n: number, t: Json) => n + t.failedRequests, 0)).toBe(1);
    const future = (await (await fetch(`${s.url}/usage?since=${Date.now() + 60_000}`)).json()) as Json;
    expect(future.totals).toEqual([]);
  });

  test("one wide log line per request, without secrets", async () => {
    const s = await server();
    await (
      await postChat(s.url, {
        model: "anthropic/sim@tokens=2",
        stream: true,
        messages: [{ role: "user", content: "l" }],
      })
    ).text();
    const lines = s.logs.records().filter((r) => r.msg === "chat request");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      proc: "ai",
      provider: "anthropic",
      status: "ok",
      attempts: 1,
      stream: true,
      simulator: true,
    });
    expect(s.logs.lines.join("\n")).not.toContain("sim-secret-key");
  });
});
