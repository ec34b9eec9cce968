/** The upstream simulator, driven by the three official SDKs directly (no AI server in between). */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { childEnv, freePort, spawnPipbot, waitFor } from "../helpers/index.ts";

let sim: UpstreamSim;
let anthropic: Anthropic;
let openai: OpenAI;
let google: GoogleGenAI;

beforeAll(async () => {
  sim = await startUpstreamSim();
  anthropic = new Anthropic({ apiKey: "sim", baseURL: sim.url, maxRetries: 0 });
  openai = new OpenAI({ apiKey: "sim", baseURL: `${sim.url}/v1`, maxRetries: 0 });
  google = new GoogleGenAI({ apiKey: "sim", httpOptions: { baseUrl: sim.url } });
});
afterAll(() => sim.stop());
afterEach(() => sim.reset());

describe("anthropic wire", () => {
  test("non-stream reply quotes the user and reports usage", async () => {
    const r = await anthropic.messages.create({
      model: "sim@tokens=3",
      max_tokens: 100,
      messages: [{ role: "user", content: "hello there" }],
    });
    expect(r.content[0]).toEqual({ type: "text", text: "You said: hello there. w1 w2" } as never);
    expect(r.stop_reason).toBe("end_turn");
    expect(r.usage.output_tokens).toBe(3);
    expect(sim.requests[0]?.headers.authorization).toBe("Bearer sim");
  });

  test("stream has cumulative usage in message_delta; x-api-key auth (SDK 0.x style) is accepted", async () => {
    const res = await fetch(`${sim.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({
        model: "sim@tokens=4",
        max_tokens: 10,
        stream: true,
        messages: [{ role: "user", content: "x" }],
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("request-id")).toMatch(/^req_/);
    const text = await res.text();
    expect(text).toContain("event: message_start");
    expect(text).toContain('"usage":{"output_tokens":4}');
    expect(text.trim().endsWith('data: {"type":"message_stop"}')).toBe(true);
  });

  test("529 with retry-after in Anthropic's error shape", async () => {
    const err = await anthropic.messages
      .create({
        model: "sim@status=529,retry_after=2",
        max_tokens: 10,
        messages: [{ role: "user", content: "x" }],
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.status).toBe(529);
    expect(err.headers.get("retry-after")).toBe("2");
    expect(err.error.error.type).toBe("overloaded_error");
  });

  test("error event after the first chunk makes the SDK throw", async () => {
    const seen: string[] = [];
    const err = await (async () => {
      for await (const ev of await anthropic.messages.create({
        model: "sim@fault=error_after:1",
        max_tokens: 100,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }))
        if (ev.type === "content_block_delta" && ev.delta.type === "text_delta") seen.push(ev.delta.text);
    })().catch((e) => e);
    expect(seen).toEqual(["You said: hi."]);
    expect(String(err)).toContain("overloaded_error");
  });

  test("cut_after delivers n parts, then resets the connection mid-stream (no clean end)", async () => {
    const texts: string[] = [];
    const err = await (async () => {
      for await (const ev of await anthropic.messages.create({
        model: "sim@fault=cut_after:2",
        max_tokens: 100,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      })) {
        if (ev.type === "content_block_delta" && ev.delta.type === "text_delta") texts.push(ev.delta.text);
        if (texts.length === 2) sim.releaseCuts(); // the cut waits until this client saw both parts
      }
      return "clean end";
    })().catch((e) => e);
    // The headers and the first two parts arrived; the body then failed. The SDK surfaces a body
    // failure as the runtime's own error (it only wraps request-phase failures in APIConnectionError).
    expect(texts).toEqual(["You said: hi.", " w1"]);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toMatch(/ECONNRESET|closed|terminated/i);
    expect(sim.requests[0]?.outcome).toBe("cut");
  });
});

test("fail_times counts count_tokens and generations of one key apart: each fails its own first request", async () => {
  const model = "sim@fail_times=1,key=kinds,status=529,tokens=2";
  const messages = [{ role: "user" as const, content: "x" }];
  const count = () =>
    anthropic.messages.countTokens({ model, messages }).then(
      () => 200,
      (e: { status?: number }) => e.status,
    );
  const generate = () =>
    anthropic.messages.create({ model, max_tokens: 10, messages }).then(
      () => 200,
      (e: { status?: number }) => e.status,
    );
  // count fails once, then the generation's own first attempt fails too (and the reverse order).
  expect([await count(), await generate(), await generate(), await count()]).toEqual([529, 529, 200, 200]);
  sim.reset();
  expect([await generate(), await count(), await count(), await generate()]).toEqual([529, 529, 200, 200]);
});

describe("openai wire", () => {
  test("non-stream and stream with include_usage", async () => {
    const r = await openai.chat.completions.create({
      model: "sim@tokens=2",
      messages: [{ role: "user", content: "yo" }],
    });
    expect(r.choices[0]?.message.content).toBe("You said: yo. w1");
    expect(r.usage?.completion_tokens).toBe(2);
    const chunks = [];
    for await (const c of await openai.chat.completions.create({
      model: "sim@tokens=3",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "yo" }],
    }))
      chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("You said: yo. w1 w2");
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(3);
    expect(chunks.at(-1)?.choices).toEqual([]);
  });

  test("fail_times fails only the first n requests of a key; header options win", async () => {
    const call = () =>
      openai.chat.completions
        .create(
          { model: "sim", messages: [{ role: "user", content: "a" }] },
          { headers: { "x-sim-options": "fail_times=2,key=k1,status=429,retry_after_ms=5" } },
        )
        .then(() => 200)
        .catch((e) => e.status);
    expect([await call(), await call(), await call()]).toEqual([429, 429, 200]);
  });

  test("tool call stream", async () => {
    const args: string[] = [];
    let finish: string | null | undefined;
    for await (const c of await openai.chat.completions.create({
      model: "sim@fault=tool_call",
      stream: true,
      messages: [{ role: "user", content: "w" }],
    })) {
      for (const t of c.choices[0]?.delta.tool_calls ?? []) args.push(t.function?.arguments ?? "");
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(JSON.parse(args.join(""))).toEqual({ city: "Paris" });
    expect(finish).toBe("tool_calls");
  });

  test("missing key → 401 invalid_api_key", async () => {
    const res = await fetch(`${sim.url}/v1/chat/completions`, { method: "POST", body: "{}" });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key");
  });
});

describe("gemini wire", () => {
  test("v1 non-stream with thought tokens, v1beta stream", async () => {
    const r = await google.models.generateContent({ model: "sim@tokens=2,thoughts=5", contents: "ping" });
    expect(r.text).toBe("You said: ping. w1");
    expect(r.usageMetadata?.thoughtsTokenCount).toBe(5);
    expect(sim.requests[0]?.path).toContain("/v1/models/");
    const beta = new GoogleGenAI({ apiKey: "sim", httpOptions: { baseUrl: sim.url, apiVersion: "v1beta" } });
    let text = "";
    let last: number | undefined;
    for await (const c of await beta.models.generateContentStream({
      model: "sim@tokens=3",
      contents: "ping",
    })) {
      text += c.text ?? "";
      last = c.usageMetadata?.candidatesTokenCount;
    }
    expect(text).toBe("You said: ping. w1 w2");
    expect(last).toBe(3);
    expect(sim.requests[1]?.path).toContain("/v1beta/models/");
  });

  test("429 RESOURCE_EXHAUSTED", async () => {
    const err = await google.models
      .generateContent({ model: "sim@status=429", contents: "x" })
      .catch((e) => e);
    expect(err.status).toBe(429);
    expect(err.message).toContain("RESOURCE_EXHAUSTED");
  });

  test("the retry hint is RetryInfo in the error body, as the Gemini API sends it — no retry-after header", async () => {
    const res = await fetch(`${sim.url}/v1beta/models/sim@status=429,retry_after=2:generateContent`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": "k" },
      body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "x" }] }] }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBeNull();
    const body = (await res.json()) as { error: { details?: { "@type": string; retryDelay: string }[] } };
    expect(body.error.details).toEqual([
      { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "2s" },
    ]);
  });
});

test("a client abort is recorded as aborted", async () => {
  const ac = new AbortController();
  const stream = await anthropic.messages.create(
    {
      model: "sim@tokens=100,rate=20",
      max_tokens: 1000,
      stream: true,
      messages: [{ role: "user", content: "x" }],
    },
    { signal: ac.signal },
  );
  const it = stream[Symbol.asyncIterator]();
  await it.next();
  ac.abort();
  await it.next().catch(() => {});
  const log = await waitFor(() => sim.requests.find((r) => r.aborted), {
    what: "aborted request in the simulator log",
  });
  expect(log.outcome).toBe("aborted");
  expect(log.chunksSent).toBeLessThan(100);
});

test("`pipbot dev upstream-sim --port N` serves until SIGTERM", async () => {
  const port = await freePort();
  const p = spawnPipbot(["dev", "upstream-sim", "--port", String(port)], childEnv());
  try {
    await p.waitForOutput(/listening on http:\/\/127\.0\.0\.1:\d+/);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  } finally {
    p.kill("SIGKILL");
  }
});

describe("fidelity of the richer replies, checked by each official SDK's own accumulators", () => {
  const weather = {
    name: "get_weather",
    description: "Weather",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  };

  test("Anthropic: stream().finalMessage() rebuilds thinking (signed), tool_use and stop_reason", async () => {
    const m = await anthropic.messages
      .stream({
        model: "sim",
        max_tokens: 4000,
        thinking: { type: "enabled", budget_tokens: 1024 },
        tools: [{ name: weather.name, input_schema: weather.parameters as Anthropic.Tool["input_schema"] }],
        messages: [{ role: "user", content: "weather?" }],
      })
      .finalMessage();
    expect(m.content.map((b) => b.type)).toEqual(["thinking", "tool_use"]);
    expect((m.content[0] as Anthropic.ThinkingBlock).signature).toStartWith("sig_");
    expect((m.content[1] as Anthropic.ToolUseBlock).input).toEqual({ city: "Paris" });
    expect(m.stop_reason).toBe("tool_use");
    const bad = await anthropic.messages
      .create({
        model: "sim",
        max_tokens: 10,
        messages: [
          { role: "user", content: "x" },
          { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_x", content: "y" }] },
        ],
      })
      .catch((e) => e);
    expect(bad).toBeInstanceOf(Anthropic.BadRequestError);
  });

  test("OpenAI: chat.completions.stream().finalChatCompletion() assembles parallel tool calls; json_object needs 'json'", async () => {
    const c = await openai.chat.completions
      .stream({
        model: "sim@tool_calls=2",
        messages: [{ role: "user", content: "two" }],
        tools: [{ type: "function", function: weather }],
      })
      .finalChatCompletion();
    const calls = c.choices[0]?.message.tool_calls ?? [];
    expect(calls).toHaveLength(2);
    expect(calls.map((t) => (t as OpenAI.ChatCompletionMessageFunctionToolCall).function.arguments)).toEqual([
      '{"city":"Paris"}',
      '{"city":"Paris"}',
    ]);
    expect(c.choices[0]?.finish_reason).toBe("tool_calls");
    const bad = await openai.chat.completions
      .create({
        model: "sim",
        messages: [{ role: "user", content: "x" }],
        response_format: { type: "json_object" },
      })
      .catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
  });

  test("Gemini: functionCalls with thought signatures, thought parts, JSON mode; a call sent back unsigned is refused", async () => {
    const r = await google.models.generateContent({
      model: "sim",
      contents: "weather?",
      config: {
        tools: [{ functionDeclarations: [{ name: weather.name, parametersJsonSchema: weather.parameters }] }],
        thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 },
      },
    });
    expect(r.functionCalls?.[0]).toMatchObject({ name: "get_weather", args: { city: "Paris" } });
    const parts = r.candidates?.[0]?.content?.parts ?? [];
    expect(parts.some((p) => p.thought)).toBe(true);
    expect(parts.find((p) => p.functionCall)?.thoughtSignature).toStartWith("tsig_");
    const json = await google.models.generateContent({
      model: "sim",
      contents: "x",
      config: {
        responseMimeType: "application/json",
        responseJsonSchema: { type: "object", properties: { n: { type: "integer" } } },
      },
    });
    expect(JSON.parse(json.text ?? "")).toEqual({ n: 2 });
    const bad = await google.models
      .generateContent({
        model: "sim",
        contents: [
          { role: "user", parts: [{ text: "x" }] },
          { role: "model", parts: [{ functionCall: { name: "get_weather", args: {} } }] },
          { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { r: 1 } } }] },
        ],
      })
      .catch((e) => e);
    expect(String(bad.message)).toContain("thought_signature");
  });

  test("unknown models: each provider's real 404", async () => {
    const a = await anthropic.messages
      .create({ model: "unknown-x", max_tokens: 5, messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(a).toBeInstanceOf(Anthropic.NotFoundError);
    expect(a.error.error.type).toBe("not_found_error");
    const o = await openai.chat.completions
      .create({ model: "unknown-x", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(o).toBeInstanceOf(OpenAI.NotFoundError);
    expect(o.code).toBe("model_not_found");
    const g = await google.models.generateContent({ model: "unknown-x", contents: "x" }).catch((e) => e);
    expect(g.status).toBe(404);
    expect(String(g.message)).toContain("is not found for API version");
  });
});
