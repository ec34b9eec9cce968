/**
 * QA of /v1/messages through the real `@anthropic-ai/sdk`: `client.beta.messages.create({betas})`
 * sends the `anthropic-beta` header (context-1m, interleaved thinking, fine-grained tool
 * streaming…; Claude Code sends some on every request). The AI server passes it on to Anthropic as
 * it came (Anthropic answers an unknown beta with a 400 naming it); before, it was silently lost
 * (e.g. a 1M-token context request ran with 200k).
 */
import { expect, test } from "bun:test";
import { claudeSurface } from "./surface-helpers.ts";

const t = claudeSurface();

test("client.beta.messages with betas: anthropic-beta reaches the upstream (create, stream, count_tokens)", async () => {
  const betas = ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"];
  const ask = {
    model: "claude-sim@tokens=2",
    max_tokens: 10,
    messages: [{ role: "user" as const, content: "x" }],
  };
  await t.claude.beta.messages.create({ ...ask, betas });
  await t.claude.beta.messages.stream({ ...ask, betas }).finalMessage();
  await t.claude.beta.messages.countTokens({ model: ask.model, messages: ask.messages, betas });
  const sent = t.s.sim.requests.map((r) => r.headers["anthropic-beta"]);
  expect(sent.slice(0, 2)).toEqual([betas.join(","), betas.join(",")]);
  // The SDK's beta countTokens adds its own beta (token-counting-…): passed on with the caller't.s.
  expect(sent[2]?.startsWith(betas.join(","))).toBe(true);
});

test("without betas no anthropic-beta header goes upstream", async () => {
  await t.claude.messages.create({
    model: "claude-sim@tokens=2",
    max_tokens: 10,
    messages: [{ role: "user", content: "x" }],
  });
  expect(t.s.sim.requests[0]?.headers["anthropic-beta"]).toBeUndefined();
});
