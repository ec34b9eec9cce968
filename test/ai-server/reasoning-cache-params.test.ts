/**
 * Reasoning, prompt caching and parameter strictness on every provider prefix: reasoning_effort
 * becomes each provider's native setting and the reasoning text comes back (`reasoning_content`,
 * /chat `reasoning` events); cache breakpoints reach Anthropic (and cache usage comes back in both
 * fields); every parameter a provider cannot honour is a 400 naming it and the provider, or
 * dropped — and named in x-pipbot-dropped-params — when the caller opts in.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createAiClient } from "../../src/gateway/ai-client.ts";
import { parseSse, postChat } from "./harness.ts";
import { PROVIDERS, type Surface, startSurface, TOKEN, upstreamBody, type Wire } from "./surface-helpers.ts";

let s: Surface;
beforeAll(async () => {
  s = await startSurface();
});
afterAll(() => s.stop());
afterEach(() => s.sim.reset());

const auth = { authorization: `Bearer ${TOKEN}` };

describe.each(PROVIDERS)("%s/ reasoning", (provider) => {
  // The real OpenAI API returns no reasoning text on Chat Completions; OpenAI-compatible servers
  // (DeepSeek, vLLM, Ollama) stream it as reasoning_content: the simulator's reasoning_text=1.
  const model = provider === "openai" ? "openai/sim@reasoning_text=1" : `${provider}/sim`;

  test("openai SDK: reasoning_effort → native setting; reasoning_content and reasoning tokens out", async () => {
    const r = await s.openai.chat.completions.create({
      model,
      messages: [{ role: "user", content: "think" }],
      reasoning_effort: "low",
    });
    const msg = r.choices[0]?.message as Wire;
    expect(msg.reasoning_content).toBe("Thinking about: think");
    expect(msg.content).toStartWith("You said: think.");
    expect(r.usage?.completion_tokens_details?.reasoning_tokens).toBeGreaterThan(0);
    const body = upstreamBody(s.sim, provider);
    if (provider === "anthropic") {
      expect(body.thinking).toMatchObject({ type: "enabled", budget_tokens: 2048 });
      expect(msg.thinking_blocks).toEqual([
        { type: "thinking", thinking: "Thinking about: think", signature: expect.stringMatching(/^sig_/) },
      ]);
    }
    if (provider === "openai") expect(body.reasoning_effort).toBe("low");
    if (provider === "google")
      expect(body.generationConfig.thinkingConfig).toEqual({ thinkingBudget: 2048, includeThoughts: true });
  });

  test("streamed: reasoning_content deltas before the text; /chat reasoning events", async () => {
    const stream = await s.openai.chat.completions.create({
      model,
      messages: [{ role: "user", content: "deep" }],
      reasoning_effort: "high",
      stream: true,
    });
    let reasoning = "";
    let text = "";
    for await (const c of stream) {
      const d = c.choices[0]?.delta as Wire;
      if (d?.reasoning_content) {
        expect(text).toBe("");
        reasoning += d.reasoning_content;
      }
      if (d?.content) text += d.content;
    }
    expect(reasoning).toBe("Thinking about: deep");
    const res = await postChat(
      s.server.url,
      { model, stream: true, reasoning: { effort: "medium" }, messages: [{ role: "user", content: "why" }] },
      auth,
    );
    const { events } = parseSse(await res.text());
    const pieces = events
      .filter((e) => e.event === "reasoning")
      .map((e) => (e.data as Wire).text)
      .join("");
    expect(pieces).toBe("Thinking about: why");
    const done = events.find((e) => e.event === "done")?.data as Wire;
    expect(done.message.content[0]).toMatchObject({ type: "reasoning", text: "Thinking about: why" });
    if (provider === "anthropic") expect(done.message.content[0].signature).toStartWith("sig_");
  });
});

test("anthropic: the thinking signature goes back on the next turn (a tool loop with thinking)", async () => {
  const tools = [
    {
      type: "function" as const,
      function: { name: "lookup", parameters: { type: "object", properties: { q: { type: "string" } } } },
    },
  ];
  const r1 = await s.openai.chat.completions.create({
    model: "anthropic/sim",
    messages: [{ role: "user", content: "find it" }],
    tools,
    reasoning_effort: "low",
  });
  const msg = r1.choices[0]!.message as Wire;
  const call = msg.tool_calls[0];
  // Sent back as the openai SDK returned it (thinking_blocks included)…
  await s.openai.chat.completions.create({
    model: "anthropic/sim",
    messages: [
      { role: "user", content: "find it" },
      msg,
      { role: "tool", tool_call_id: call.id, content: "found" },
    ],
    tools,
    reasoning_effort: "low",
  });
  const back = upstreamBody(s.sim, "anthropic").messages[1].content;
  expect(back[0]).toEqual({
    type: "thinking",
    thinking: "Thinking about: find it",
    signature: msg.thinking_blocks[0].signature,
  });
  // …and without them (a client that drops unknown fields): the server restores the block.
  const { thinking_blocks: _t, reasoning_content: _r, ...bare } = msg;
  const r3 = await s.openai.chat.completions.create({
    model: "anthropic/sim",
    messages: [
      { role: "user", content: "find it" },
      bare,
      { role: "tool", tool_call_id: call.id, content: "found" },
    ],
    tools,
    reasoning_effort: "low",
  });
  expect(r3.choices[0]?.message.content).toContain("Tool lookup returned found");
  expect(upstreamBody(s.sim, "anthropic").messages[1].content[0].signature).toBe(
    msg.thinking_blocks[0].signature,
  );
});

describe("prompt caching", () => {
  test('/chat cache:"auto" marks the system prompt and the last two user turns; cache usage comes back', async () => {
    const res = await postChat(
      s.server.url,
      {
        model: "anthropic/sim@cache_read=50,cache_write=20",
        cache: "auto",
        system: "long system prompt",
        messages: [
          { role: "user", content: "one" },
          { role: "assistant", content: "ok" },
          { role: "user", content: "two" },
          { role: "assistant", content: "ok" },
          { role: "user", content: "three" },
        ],
      },
      auth,
    );
    const body = (await res.json()) as Wire;
    expect(body.usage).toMatchObject({ cacheReadTokens: 50, cacheWriteTokens: 20 });
    const up = upstreamBody(s.sim, "anthropic");
    expect(up.system).toEqual([
      { type: "text", text: "long system prompt", cache_control: { type: "ephemeral" } },
    ]);
    const marked = up.messages.map((m: Wire) => m.content.some((b: Wire) => b.cache_control));
    expect(marked).toEqual([false, false, true, false, true]);
  });

  test("/v1: cache_control on parts reaches Anthropic; usage reports cached and written tokens", async () => {
    const r = await s.openai.chat.completions.create({
      model: "anthropic/sim@cache_read=30,cache_write=10",
      messages: [
        {
          role: "system",
          content: [{ type: "text", text: "sys", cache_control: { type: "ephemeral" } } as never],
        },
        {
          role: "user",
          content: [{ type: "text", text: "hi", cache_control: { type: "ephemeral", ttl: "1h" } } as never],
        },
      ],
    });
    expect(r.usage?.prompt_tokens_details?.cached_tokens).toBe(30);
    expect((r.usage as Wire).prompt_tokens_details.cache_write_tokens).toBe(10);
    const up = upstreamBody(s.sim, "anthropic");
    expect(up.system[0].cache_control).toEqual({ type: "ephemeral" });
    expect(up.messages[0].content[0].cache_control).toEqual({ type: "ephemeral", ttl: "1h" });
  });

  test("openai/ and google/: prompt_cache_key (OpenAI) reaches the upstream; cached tokens come back for both", async () => {
    for (const provider of ["openai", "google"] as const) {
      const r = await s.openai.chat.completions.create({
        model: `${provider}/sim@cache_read=12`,
        messages: [{ role: "user", content: "cached?" }],
        ...(provider === "openai" ? { prompt_cache_key: "conv-9" } : {}),
      });
      expect(r.usage?.prompt_tokens_details?.cached_tokens).toBe(12);
      if (provider === "openai") expect(upstreamBody(s.sim, "openai").prompt_cache_key).toBe("conv-9");
    }
  });

  test("the gateway's AI client asks for cache:auto, so its conversations reach Anthropic with breakpoints", async () => {
    const ai = createAiClient({ baseUrl: s.server.url, token: TOKEN });
    const seen: string[] = [];
    for await (const ev of ai.stream(
      {
        model: "anthropic/sim",
        messages: [
          { role: "user", content: "a" },
          { role: "assistant", content: "b" },
          { role: "user", content: "c" },
        ],
        conversationId: "conv-1",
      },
      new AbortController().signal,
    ))
      seen.push(ev.type);
    expect(seen.at(-1)).toBe("done");
    const marked = upstreamBody(s.sim, "anthropic").messages.map((m: Wire) =>
      m.content.some((b: Wire) => b.cache_control),
    );
    expect(marked).toEqual([true, false, true]);
  });
});

describe("parameters", () => {
  test("stop, top_p, seed, max_completion_tokens, user reach the providers that take them", async () => {
    for (const provider of PROVIDERS) {
      await s.openai.chat.completions.create({
        model: `${provider}/sim`,
        messages: [{ role: "user", content: "p" }],
        stop: ["END"],
        top_p: 0.5,
        max_completion_tokens: 50,
        user: "end-user-7",
        ...(provider === "anthropic" ? {} : { seed: 7 }),
      });
      const b = upstreamBody(s.sim, provider);
      if (provider === "anthropic")
        expect([b.stop_sequences, b.top_p, b.max_tokens, b.metadata]).toEqual([
          ["END"],
          0.5,
          50,
          { user_id: "end-user-7" },
        ]);
      if (provider === "openai")
        expect([b.stop, b.top_p, b.seed, b.max_completion_tokens, b.user]).toEqual([
          ["END"],
          0.5,
          7,
          50,
          "end-user-7",
        ]);
      if (provider === "google") {
        const g = b.generationConfig;
        expect([g.stopSequences, g.topP, g.seed, g.maxOutputTokens]).toEqual([["END"], 0.5, 7, 50]);
      }
    }
    const line = s.server.logs.records().findLast((l) => l.msg === "chat request");
    expect(line?.endUser).toBe("end-user-7");
  });

  const cases: [string, string, Record<string, unknown>][] = [
    ["seed", "anthropic", { seed: 1 }],
    ["top_k", "openai", { top_k: 5 }],
    ["presence_penalty", "anthropic", { presence_penalty: 0.5 }],
    ["parallel_tool_calls", "google", { parallel_tool_calls: false }],
    ["prompt_cache_key", "google", { prompt_cache_key: "k" }],
    ["stop", "openai", { stop: ["a", "b", "c", "d", "e"] }],
    ["stop", "google", { stop: ["a", "b", "c", "d", "e", "f"] }],
    ["temperature", "anthropic", { temperature: 0.2, reasoning_effort: "low" }],
    ["n", "openai", { n: 2 }],
    ["logprobs", "google", { logprobs: true }],
    ["logit_bias", "openai", { logit_bias: { "50256": -100 } }],
  ];

  test.each(cases)(
    "%s on %s → 400 naming it; dropped on request, named in x-pipbot-dropped-params",
    async (param, provider, extra) => {
      const body = { model: `${provider}/sim`, messages: [{ role: "user", content: "x" }], ...extra };
      const post = (headers: Record<string, string> = {}) =>
        fetch(`${s.server.url}/v1/chat/completions`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json", ...headers },
          body: JSON.stringify(body),
        });
      const refused = await post();
      expect(refused.status).toBe(400);
      expect(refused.headers.get("x-pipbot-request-id")).toBeTruthy();
      const err = ((await refused.json()) as Wire).error;
      expect(err.message).toContain(param);
      expect(err.param).toBe(param);
      expect(s.sim.requests).toHaveLength(0);

      const dropped = await post({ "x-pipbot-drop-params": "true" });
      expect(dropped.status).toBe(200);
      expect(dropped.headers.get("x-pipbot-dropped-params")?.split(",")).toContain(param);
      await dropped.json();
      const up = upstreamBody(s.sim, provider as never);
      const wire: Record<string, string> = {
        top_k: "top_k",
        prompt_cache_key: "prompt_cache_key",
        seed: "seed",
        n: "n",
      };
      if (wire[param]) expect(JSON.stringify(up)).not.toContain(`"${wire[param]}"`);
    },
  );

  test("drop_params in the body works like the header; /chat refuses too", async () => {
    const ok = await postChat(
      s.server.url,
      { model: "anthropic/sim", seed: 3, drop_params: true, messages: [{ role: "user", content: "x" }] },
      auth,
    );
    expect(ok.headers.get("x-pipbot-dropped-params")).toBe("seed");
    await ok.text();
    const refused = await postChat(
      s.server.url,
      { model: "anthropic/sim", seed: 3, messages: [{ role: "user", content: "x" }] },
      auth,
    );
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as Wire).error.message).toContain(
      "seed is not supported by anthropic/sim",
    );
  });
});
