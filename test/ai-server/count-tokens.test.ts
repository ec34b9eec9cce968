/**
 * `POST /v1/messages/count_tokens` with the official `@anthropic-ai/sdk` (`messages.countTokens`)
 * pointed at pipbot (direct mode, the simulator upstream): what reached the upstream (the count
 * path, the translated body without generation fields) and the number returned — the same as the
 * SDK gets from the simulator directly and as /v1/messages' usage for the same content. Errors in
 * Anthropic's shape with x-pipbot-request-id; retries and timeouts like the engine's; no usage
 * row; proxy-v1 headers and forwarded identity (fake proxy). The simulator's own count_tokens wire:
 * sim-count-tokens.test.ts; through the real Convex proxy: test/convex/proxy-ai-server.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { MEDIA_CHARS } from "../../src/dev/sim-count-tokens.ts";
import { waitFor } from "../helpers/index.ts";
import { startTestAiServer } from "./harness.ts";
import { PNG_B64, type Surface, startSurface, TOKEN, upstreamBody, WEATHER_TOOL } from "./surface-helpers.ts";

let s: Surface;
/** The SDK through pipbot. */
let viaPipbot: Anthropic;
/** The SDK straight at the simulator (the reference for the numbers and the wire). */
let direct: Anthropic;
beforeAll(async () => {
  s = await startSurface();
  viaPipbot = new Anthropic({ apiKey: TOKEN, baseURL: s.server.url, maxRetries: 0 });
  direct = new Anthropic({ apiKey: "sim-direct-key", baseURL: s.sim.url, maxRetries: 0 });
});
afterAll(() => s.stop());
afterEach(() => s.sim.reset());

const weather: Anthropic.Tool = {
  name: WEATHER_TOOL.function.name,
  description: WEATHER_TOOL.function.description,
  input_schema: { ...WEATHER_TOOL.function.parameters, type: "object" },
};

/** The simulator's estimate: characters / 4, rounded up. */
const tokensOf = (chars: number) => Math.max(1, Math.ceil(chars / 4));

const lastUpstream = () => s.sim.requests.at(-1);

describe("through pipbot (direct mode)", () => {
  test("text and system: the count path upstream, no generation fields, the simulator's number", async () => {
    const params: Anthropic.MessageCountTokensParams = {
      model: "claude-sim",
      system: "You are terse.",
      messages: [
        { role: "user", content: "hello there" },
        { role: "assistant", content: "hi" },
        { role: "user", content: "how many tokens is this?" },
      ],
    };
    const { data: counted, response } = await viaPipbot.messages.countTokens(params).withResponse();
    expect(response.headers.get("x-pipbot-request-id")).toBeTruthy();
    const chars =
      "You are terse.".length + "hello there".length + "hi".length + "how many tokens is this?".length;
    expect(counted.input_tokens).toBe(tokensOf(chars));

    const up = lastUpstream();
    expect(up?.path).toBe("/v1/messages/count_tokens");
    expect(up?.status).toBe(200);
    const body = upstreamBody(s.sim, "anthropic");
    expect(body.model).toBe("claude-sim");
    expect(body.system).toEqual([{ type: "text", text: "You are terse." }]);
    expect(body.messages.map((m: { role: string }) => m.role)).toEqual(["user", "assistant", "user"]);
    for (const k of ["max_tokens", "stream", "metadata", "temperature", "stop_sequences"])
      expect(body).not.toHaveProperty(k);

    // The same number as the SDK gets from the simulator directly, and as /v1/messages' usage.
    expect((await direct.messages.countTokens(params)).input_tokens).toBe(counted.input_tokens);
    const m = await viaPipbot.messages.create({ ...params, max_tokens: 50 });
    expect(m.usage.input_tokens).toBe(counted.input_tokens);
  });

  test("tools, tool_choice and thinking reach the upstream natively and count", async () => {
    const params: Anthropic.MessageCountTokensParams = {
      model: "anthropic/sim",
      messages: [{ role: "user", content: "weather in Paris?" }],
      tools: [weather],
      tool_choice: { type: "auto", disable_parallel_tool_use: true },
      thinking: { type: "enabled", budget_tokens: 2048 },
    };
    const counted = await viaPipbot.messages.countTokens(params);
    const body = upstreamBody(s.sim, "anthropic");
    expect(body.model).toBe("sim");
    expect(body.tools).toEqual([weather]);
    expect(body.tool_choice).toEqual({ type: "auto", disable_parallel_tool_use: true });
    expect(body.thinking).toMatchObject({ type: "enabled", budget_tokens: 2048 });
    expect(body).not.toHaveProperty("max_tokens");
    const chars = "weather in Paris?".length + JSON.stringify(body.tools[0]).length;
    expect(counted.input_tokens).toBe(tokensOf(chars));
    const withoutTools = await viaPipbot.messages.countTokens({
      model: "anthropic/sim",
      messages: [{ role: "user", content: "weather in Paris?" }],
    });
    expect(counted.input_tokens).toBeGreaterThan(withoutTools.input_tokens);
  });

  test("an image and cache_control reach the upstream as native blocks; the image counts", async () => {
    const counted = await viaPipbot.messages.countTokens({
      model: "claude-sim",
      system: [{ type: "text", text: "sys", cache_control: { type: "ephemeral" } }],
      messages: [
        {
          role: "user",
          content: [
            { type: "image", source: { type: "base64", media_type: "image/png", data: PNG_B64 } },
            { type: "text", text: "what is this?" },
          ],
        },
      ],
    });
    const body = upstreamBody(s.sim, "anthropic");
    expect(body.system[0].cache_control).toEqual({ type: "ephemeral" });
    expect(body.messages[0].content[0]).toEqual({
      type: "image",
      source: { type: "base64", media_type: "image/png", data: PNG_B64 },
    });
    expect(counted.input_tokens).toBe(tokensOf("sys".length + MEDIA_CHARS + "what is this?".length));
  });

  test("a count writes no usage row and logs one count_tokens line", async () => {
    const before = s.server.usageRows().length;
    const counted = await viaPipbot.messages.countTokens({
      model: "claude-sim",
      messages: [{ role: "user", content: "count me" }],
    });
    expect(s.server.usageRows().length).toBe(before);
    const line = s.server.logs
      .records()
      .filter((r) => r.msg === "count_tokens request")
      .at(-1);
    expect(line).toMatchObject({
      api: "anthropic",
      route: "count_tokens",
      provider: "anthropic",
      model: "claude-sim",
      status: "ok",
      attempts: 1,
      inputTokens: counted.input_tokens,
    });
  });

  test("a retryable upstream failure is retried like a generation (retry-after honoured)", async () => {
    const counted = await viaPipbot.messages.countTokens({
      model: "claude-sim@fail_times=1,status=529,retry_after_ms=0",
      messages: [{ role: "user", content: "again" }],
    });
    expect(counted.input_tokens).toBe(tokensOf("again".length));
    expect(s.sim.requests.map((r) => [r.path, r.status])).toEqual([
      ["/v1/messages/count_tokens", 529],
      ["/v1/messages/count_tokens", 200],
    ]);
  });
});

test("an upstream that never answers: the attempt is aborted at AI_CONNECT_TIMEOUT_MS → 504 naming it", async () => {
  const server = await startTestAiServer(s.sim, { token: TOKEN, connectTimeoutMs: 50, maxRetries: 0 });
  try {
    const err = await new Anthropic({ apiKey: TOKEN, baseURL: server.url, maxRetries: 0 }).messages
      .countTokens({ model: "claude-sim@latency=60000", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect(err.status).toBe(504);
    expect(err.message).toContain("AI_CONNECT_TIMEOUT_MS");
    expect(err.headers.get("x-pipbot-request-id")).toBeTruthy();
    // the upstream request was aborted, not left running
    await waitFor(() => s.sim.requests[0]?.aborted === true, { what: "the simulator saw the abort" });
  } finally {
    await server.stop();
  }
});

test("proxy-v1: the count carries the request id and a caller's forwarded identity (as its credential too)", async () => {
  const { startFakeConvexProxy } = await import("../fakes/convex-proxy.ts");
  const proxy = await startFakeConvexProxy({
    upstream: s.sim.url,
    serviceToken: "svc-server-0123456789",
    userId: "user_server",
    users: { user_vm: "svc-vm-0123456789" },
  });
  const server = await startTestAiServer(
    s.sim,
    { token: TOKEN },
    {
      proxy: { siteUrl: proxy.url, serviceToken: "svc-server-0123456789", userId: "user_server" },
      keys: {},
      baseUrls: {},
    },
  );
  try {
    const c = new Anthropic({ apiKey: TOKEN, baseURL: server.url, maxRetries: 0 });
    const own = await c.messages.countTokens({
      model: "claude-sim",
      messages: [{ role: "user", content: "abcd" }],
    });
    expect(own.input_tokens).toBe(1);
    const { response } = await c.messages
      .countTokens(
        { model: "claude-sim", messages: [{ role: "user", content: "abcd" }] },
        { headers: { "x-pipbot-user-id": "user_vm", "x-pipbot-service-token": "svc-vm-0123456789" } },
      )
      .withResponse();
    const requestId = response.headers.get("x-pipbot-request-id");
    expect(proxy.requests.map((r) => [r.path, r.userId, r.status, r.rejected])).toEqual([
      ["/v1/messages/count_tokens", "user_server", 200, undefined],
      ["/v1/messages/count_tokens", "user_vm", 200, undefined],
    ]);
    expect(proxy.requests[1]?.requestId).toBe(requestId);
  } finally {
    await server.stop();
    await proxy.stop();
  }
});

describe("errors in Anthropic's shape, with x-pipbot-request-id", () => {
  const post = (body: unknown, key = TOKEN) =>
    fetch(`${s.server.url}/v1/messages/count_tokens`, {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  test("a bad body, generation-only fields and unknown fields → 400 before any upstream call", async () => {
    for (const [body, says] of [
      [{ model: "claude-sim", messages: [] }, "messages"],
      [{ model: "claude-sim", max_tokens: 10, messages: [{ role: "user", content: "x" }] }, "max_tokens"],
      [{ model: "claude-sim", stream: true, messages: [{ role: "user", content: "x" }] }, "stream"],
      [{ model: "claude-sim", temperature: 0.5, messages: [{ role: "user", content: "x" }] }, "temperature"],
      [{ model: "claude-sim", nonsense: 1, messages: [{ role: "user", content: "x" }] }, "nonsense"],
      [
        {
          model: "claude-sim",
          messages: [{ role: "user", content: "x" }],
          tools: [{ type: "web_search_20250305", name: "web_search" }],
        },
        "only custom tools",
      ],
    ] as const) {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(res.headers.get("x-pipbot-request-id")).toBeTruthy();
      const err = (await res.json()) as { type: string; error: { type: string; message: string } };
      expect(err).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
      expect(err.error.message).toContain(says);
    }
    const notJson = await fetch(`${s.server.url}/v1/messages/count_tokens`, {
      method: "POST",
      headers: { "x-api-key": TOKEN },
      body: "{",
    });
    expect(notJson.status).toBe(400);
    expect(notJson.headers.get("x-pipbot-request-id")).toBeTruthy();
    expect(s.sim.requests).toEqual([]);
  });

  test("another provider's model → 400 naming it and the alternative (SDK's BadRequestError)", async () => {
    const err = await viaPipbot.messages
      .countTokens({ model: "openai/sim", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect(err.message).toContain(
      "/v1/messages/count_tokens serves anthropic/ models only; openai/sim is an openai model",
    );
    expect(err.message).toContain("/v1/chat/completions");
    expect(err.headers.get("x-pipbot-request-id")).toBeTruthy();
    expect(s.sim.requests).toEqual([]);
  });

  test("an unknown model → the upstream's 404 mapped (SDK's NotFoundError), not retried", async () => {
    const err = await viaPipbot.messages
      .countTokens({ model: "anthropic/unknown-model", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect(err.error).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    expect(err.message).toContain("model: unknown-model");
    expect(err.headers.get("x-pipbot-request-id")).toBeTruthy();
    expect(s.sim.requests.map((r) => [r.path, r.status])).toEqual([["/v1/messages/count_tokens", 404]]);
  });

  test("a wrong key → 401 (SDK's AuthenticationError)", async () => {
    const err = await new Anthropic({
      apiKey: "wrong-token-000000",
      baseURL: s.server.url,
      maxRetries: 0,
    }).messages
      .countTokens({ model: "claude-sim", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(err.headers.get("x-pipbot-request-id")).toBeTruthy();
    expect(s.sim.requests).toEqual([]);
  });
});
