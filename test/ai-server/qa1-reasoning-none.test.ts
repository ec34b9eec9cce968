/**
 * `reasoning_effort: "none"` (and `/chat`'s `reasoning: {effort: "none"}`) reaches every upstream
 * as "no reasoning": Gemini's thinkingBudget 0 (without includeThoughts), OpenAI's
 * reasoning_effort none, no thinking block for Anthropic. Before, it reached no upstream and the
 * model's default applied (Gemini 2.5 Flash thinks by default, gpt-5 reasons at medium).
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { type Surface, startSurface, TOKEN, upstreamBody } from "./surface-helpers.ts";

let s: Surface;
beforeAll(async () => {
  s = await startSurface();
});
afterAll(() => s.stop());
afterEach(() => s.sim.reset());

const none = (model: string) =>
  s.openai.chat.completions.create({
    model,
    reasoning_effort: "none",
    messages: [{ role: "user", content: "no thinking please" }],
  });

test("anthropic/: no thinking block is asked for", async () => {
  await none("anthropic/sim");
  expect(upstreamBody(s.sim, "anthropic").thinking).toBeUndefined();
});

test("google/: thinking is turned off (thinkingBudget 0), not left to the model's default", async () => {
  await none("google/sim");
  expect(upstreamBody(s.sim, "google").generationConfig?.thinkingConfig?.thinkingBudget).toBe(0);
});

test("openai/: reasoning_effort none reaches OpenAI (gpt-5.1 and later take it)", async () => {
  await none("openai/sim");
  expect(upstreamBody(s.sim, "openai").reasoning_effort).toBe("none");
});

test("anthropic/: none is no thinking, so a temperature is not refused as thinking's", async () => {
  await s.openai.chat.completions.create({
    model: "anthropic/sim",
    reasoning_effort: "none",
    temperature: 0.3,
    messages: [{ role: "user", content: "no thinking please" }],
  });
  const body = upstreamBody(s.sim, "anthropic");
  expect([body.thinking, body.temperature]).toEqual([undefined, 0.3]);
});

test("/chat: reasoning effort none turns Gemini's thinking off too", async () => {
  const res = await fetch(`${s.server.url}/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({
      model: "google/sim",
      reasoning: { effort: "none" },
      messages: [{ role: "user", content: "no thinking please" }],
    }),
  });
  expect(res.status).toBe(200);
  expect(upstreamBody(s.sim, "google").generationConfig?.thinkingConfig).toEqual({
    thinkingBudget: 0,
    includeThoughts: false,
  });
});

test("/chat: effort none with a thinking budget is a 400 naming the contradiction", async () => {
  const res = await fetch(`${s.server.url}/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({
      model: "google/sim",
      reasoning: { effort: "none", budgetTokens: 2048 },
      messages: [{ role: "user", content: "x" }],
    }),
  });
  expect(res.status).toBe(400);
  const body = (await res.json()) as { error: { message: string } };
  expect(body.error.message).toContain("effort none and a budgetTokens");
  expect(s.sim.requests).toEqual([]);
});
