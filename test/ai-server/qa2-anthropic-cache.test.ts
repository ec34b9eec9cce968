/**
 * QA of /v1/messages caching through the real `@anthropic-ai/sdk`: a request-level
 * `cache_control` (automatic caching) becomes pipbot's breakpoints — with the caller's TTL.
 */
import { expect, test } from "bun:test";
import { claudeSurface, upstreamBody } from "./surface-helpers.ts";

const t = claudeSurface();

test('request-level cache_control {ttl:"1h"}: every breakpoint pipbot places keeps the 1h TTL', async () => {
  await t.claude.messages.create({
    model: "claude-sim@tokens=2",
    max_tokens: 50,
    cache_control: { type: "ephemeral", ttl: "1h" },
    system: "a long system prompt",
    messages: [
      { role: "user", content: "first" },
      { role: "assistant", content: "ok" },
      { role: "user", content: "second" },
    ],
  });
  const up = upstreamBody(t.s.sim, "anthropic");
  const marks = [up.system.at(-1), up.messages[0].content.at(-1), up.messages[2].content.at(-1)].map(
    (b: { cache_control?: unknown }) => b.cache_control,
  );
  expect(marks).toEqual([
    { type: "ephemeral", ttl: "1h" },
    { type: "ephemeral", ttl: "1h" },
    { type: "ephemeral", ttl: "1h" },
  ]);
  expect(up.cache_control).toBeUndefined();
});
