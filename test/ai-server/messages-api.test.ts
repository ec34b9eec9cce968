/**
 * `POST /v1/messages` with the official `@anthropic-ai/sdk` pointed at pipbot: non-stream and
 * stream (the SDK's own accumulator rebuilds the message from our events), tools round trip,
 * thinking with signatures, images and cache_control reaching the upstream; other providers'
 * models and bad requests in Anthropic's error shape, with x-pipbot-request-id.
 */
import { expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { waitFor } from "../helpers/index.ts";
import { claudeSurface, PNG_B64, TOKEN, upstreamBody } from "./surface-helpers.ts";

const t = claudeSurface();

const weather: Anthropic.Tool = {
  name: "get_weather",
  description: "Weather of a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

test("non-stream: text, usage, cache_control and an image reach the upstream natively", async () => {
  const m = await t.claude.messages.create({
    model: "claude-sim@cache_read=4,cache_write=6",
    max_tokens: 100,
    system: [{ type: "text", text: "sys", cache_control: { type: "ephemeral" } }],
    messages: [
      {
        role: "user",
        content: [
          { type: "image", source: { type: "base64", media_type: "image/png", data: PNG_B64 } },
          { type: "text", text: "hello", cache_control: { type: "ephemeral" } },
        ],
      },
    ],
  });
  expect(m.type).toBe("message");
  expect(m.content[0]).toMatchObject({ type: "text" });
  expect((m.content[0] as Anthropic.TextBlock).text).toStartWith(
    "You said: hello. I see image/png, 68 bytes.",
  );
  expect(m.stop_reason).toBe("end_turn");
  expect(m.usage).toMatchObject({ cache_read_input_tokens: 4, cache_creation_input_tokens: 6 });
  const up = upstreamBody(t.s.sim, "anthropic");
  expect(up.system[0].cache_control).toEqual({ type: "ephemeral" });
  expect(up.messages[0].content[0].source).toEqual({
    type: "base64",
    media_type: "image/png",
    data: PNG_B64,
  });
  expect(up.messages[0].content[1].cache_control).toEqual({ type: "ephemeral" });
  expect(up.model).toBe("claude-sim@cache_read=4,cache_write=6");
});

test("stream with thinking: the SDK's accumulated message has the signed thinking block, then text", async () => {
  const stream = t.claude.messages.stream({
    model: "anthropic/sim",
    max_tokens: 4000,
    thinking: { type: "enabled", budget_tokens: 2000 },
    messages: [{ role: "user", content: "ponder" }],
  });
  const thinking: string[] = [];
  stream.on("thinking", (d) => thinking.push(d));
  const m = await stream.finalMessage();
  expect(thinking.join("")).toBe("Thinking about: ponder");
  expect(m.content[0]).toMatchObject({ type: "thinking", thinking: "Thinking about: ponder" });
  expect((m.content[0] as Anthropic.ThinkingBlock).signature).toStartWith("sig_");
  expect((m.content[1] as Anthropic.TextBlock).text).toStartWith("You said: ponder.");
  expect(upstreamBody(t.s.sim, "anthropic").thinking).toMatchObject({ type: "enabled", budget_tokens: 2000 });
});

test("tools: streamed tool_use, then the tool_result round trip with thinking preserved", async () => {
  const params = {
    model: "anthropic/sim",
    max_tokens: 4000,
    thinking: { type: "enabled" as const, budget_tokens: 1024 },
    tools: [weather],
  };
  const first = await t.claude.messages
    .stream({ ...params, messages: [{ role: "user", content: "weather in Paris" }] })
    .finalMessage();
  expect(first.stop_reason).toBe("tool_use");
  const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use");
  expect(use).toMatchObject({ name: "get_weather", input: { city: "Paris" } });
  const second = await t.claude.messages.create({
    ...params,
    messages: [
      { role: "user", content: "weather in Paris" },
      { role: "assistant", content: first.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: use?.id ?? "", content: "Sunny" }] },
    ],
  });
  const text = second.content.find((b): b is Anthropic.TextBlock => b.type === "text");
  expect(text?.text).toContain("Tool get_weather returned Sunny.");
  // The simulator refuses a thinking-enabled tool loop whose assistant turn lost its signed thinking.
  expect(upstreamBody(t.s.sim, "anthropic").messages[1].content[0].type).toBe("thinking");
});

test("errors in Anthropic's shape with x-pipbot-request-id: another provider's model, a bad body, auth", async () => {
  const other = await t.claude.messages
    .create({ model: "openai/sim", max_tokens: 10, messages: [{ role: "user", content: "x" }] })
    .catch((e) => e);
  expect(other).toBeInstanceOf(Anthropic.BadRequestError);
  expect(other.message).toContain(
    "/v1/messages serves anthropic/ models only; openai/sim is an openai model",
  );
  expect(other.error).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  expect(other.headers.get("x-pipbot-request-id")).toBeTruthy();
  const bad = await fetch(`${t.s.server.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": TOKEN, "content-type": "application/json" },
    body: JSON.stringify({ model: "anthropic/sim", messages: [] }),
  });
  expect(bad.status).toBe(400);
  expect(bad.headers.get("x-pipbot-request-id")).toBeTruthy();
  expect(((await bad.json()) as { type: string }).type).toBe("error");
  const noAuth = await new Anthropic({
    apiKey: "wrong-token-000000",
    baseURL: t.s.server.url,
    maxRetries: 0,
  }).messages
    .create({ model: "anthropic/sim", max_tokens: 10, messages: [{ role: "user", content: "x" }] })
    .catch((e) => e);
  expect(noAuth).toBeInstanceOf(Anthropic.AuthenticationError);
  // The fix names the header this SDK sends.
  expect(String((noAuth as Error).message)).toContain("x-api-key: <AI_SERVER_TOKEN>");
  const unknown = await t.claude.messages
    .create({ model: "anthropic/unknown-model", max_tokens: 10, messages: [{ role: "user", content: "x" }] })
    .catch((e) => e);
  expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
  expect(t.s.sim.requests.map((r) => r.status)).toEqual([404]);
});

test("every /v1 response carries x-pipbot-request-id, errors and 404s included", async () => {
  for (const [path, init] of [
    ["/v1/models", {}],
    ["/v1/nope", {}],
    ["/v1/chat/completions", { method: "POST", body: "{" }],
  ] as const) {
    const res = await fetch(`${t.s.server.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.headers.get("x-pipbot-request-id")).toBeTruthy();
    await res.text();
  }
});

test("proxy-v1: /v1/messages and a tool call on /v1 go through the Convex proxy with the identity headers", async () => {
  const { startFakeConvexProxy } = await import("../fakes/convex-proxy.ts");
  const { startTestAiServer } = await import("./harness.ts");
  const proxy = await startFakeConvexProxy({
    upstream: t.s.sim.url,
    serviceToken: "svc-token-0123456789",
    userId: "user_p",
  });
  const server = await startTestAiServer(
    t.s.sim,
    {},
    {
      proxy: { siteUrl: proxy.url, serviceToken: "svc-token-0123456789", userId: "user_p" },
      keys: {},
      baseUrls: {},
    },
  );
  try {
    const c = new Anthropic({ apiKey: "unused-token-0000", baseURL: server.url, maxRetries: 0 });
    const m = await c.messages.create({
      model: "anthropic/sim",
      max_tokens: 100,
      tools: [weather],
      messages: [{ role: "user", content: "weather" }],
    });
    expect(m.stop_reason).toBe("tool_use");
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "google/sim",
        messages: [{ role: "user", content: "weather" }],
        tools: [{ type: "function", function: { name: "get_weather", parameters: weather.input_schema } }],
      }),
    });
    expect(((await res.json()) as { choices: { finish_reason: string }[] }).choices[0]?.finish_reason).toBe(
      "tool_calls",
    );
    expect(proxy.requests.map((r) => [r.provider, r.userId, r.rejected])).toEqual([
      ["anthropic", "user_p", undefined],
      ["google", "user_p", undefined],
    ]);
    expect(upstreamBody(t.s.sim, "anthropic").tools[0].name).toBe("get_weather");
  } finally {
    await server.stop();
    await proxy.stop();
  }
});

test("a bare model id on /v1/messages is an Anthropic model, whatever the default model's provider", async () => {
  const { startTestAiServer } = await import("./harness.ts");
  const server = await startTestAiServer(t.s.sim, { defaultModel: "openai/sim" });
  try {
    const c = new Anthropic({ apiKey: "unused-token-0000", baseURL: server.url, maxRetries: 0 });
    const m = await c.messages.create({
      model: "claude-sim",
      max_tokens: 50,
      messages: [{ role: "user", content: "hi" }],
    });
    expect((m.content[0] as Anthropic.TextBlock).text).toStartWith("You said: hi.");
    expect(t.s.sim.requests.map((r) => r.provider)).toEqual(["anthropic"]);
  } finally {
    await server.stop();
  }
});

test("metadata.user_id is stored with usage as the end user (usage.end_user)", async () => {
  await t.claude.messages.create({
    model: "claude-sim@tokens=2",
    max_tokens: 50,
    metadata: { user_id: "anthropic-end-user-7" },
    messages: [{ role: "user", content: "who" }],
  });
  const row = await waitFor(() => t.s.server.usageRows().find((u) => u.end_user === "anthropic-end-user-7"), {
    what: "usage row of anthropic-end-user-7",
  });
  expect(row).toMatchObject({ provider: "anthropic", status: "ok", output_tokens: 2 });
});
