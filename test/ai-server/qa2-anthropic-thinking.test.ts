/**
 * QA of /v1/messages thinking across turns through the real `@anthropic-ai/sdk`: a client that
 * sends back only the tool_use of a streamed thinking turn (dropping the signed thinking block)
 * still gets a working tool loop — the server puts the block back (the simulator, like Anthropic,
 * refuses a thinking tool loop whose assistant turn lost its thinking).
 */
import { expect, test } from "bun:test";
import type Anthropic from "@anthropic-ai/sdk";
import { claudeSurface, upstreamBody } from "./surface-helpers.ts";

const t = claudeSurface();

test("a streamed thinking turn's block is restored when the client returns only its tool_use", async () => {
  const p = {
    model: "claude-sim@tokens=2",
    max_tokens: 3000,
    thinking: { type: "enabled" as const, budget_tokens: 1024 },
    tools: [
      {
        name: "get_weather",
        input_schema: { type: "object" as const, properties: { city: { type: "string" } } },
      },
    ],
  };
  const first = await t.claude.messages
    .stream({ ...p, messages: [{ role: "user", content: "weather?" }] })
    .finalMessage();
  const thinking = first.content.find((b): b is Anthropic.ThinkingBlock => b.type === "thinking");
  const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use");
  expect(thinking?.signature).toStartWith("sig_");
  const second = await t.claude.messages.create({
    ...p,
    messages: [
      { role: "user", content: "weather?" },
      { role: "assistant", content: [use as Anthropic.ToolUseBlock] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: use?.id ?? "", content: "sunny" }] },
    ],
  });
  expect(second.content.find((b) => b.type === "text")).toMatchObject({
    text: expect.stringContaining("returned sunny"),
  });
  expect(upstreamBody(t.s.sim, "anthropic").messages[1].content[0]).toEqual(thinking);
});
