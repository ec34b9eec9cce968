/**
 * The held stream of the OpenAI and Anthropic faces: its headers wait for the first token, but at
 * most the keep-alive interval. A model still silent by then (hidden reasoning, a long queue) gets
 * its 200, a keep-alive comment and its tokens; a failure after that is an in-stream error, as on
 * an open stream. (A failure before the deadline is the HTTP error: qa1-stream-errors.test.ts,
 * qa2-anthropic-stream-errors.test.ts.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { startTestAiServer, type TestAiServer } from "./harness.ts";

let sim: UpstreamSim;
let s: TestAiServer;

beforeAll(async () => {
  sim = await startUpstreamSim();
  // The first token comes after 600 ms; the hold ends after 100.
  s = await startTestAiServer(sim, { keepAliveMs: 100, maxRetries: 0 });
});
afterAll(async () => {
  await s.stop();
  await sim.stop();
});

async function openaiStream(model: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content: "hi" }] }),
  });
  return { status: res.status, body: await res.text() };
}

test("a first token later than the hold: 200, a keep-alive comment first, then the chunks and [DONE]", async () => {
  const r = await openaiStream("openai/sim@ttft=600");
  expect(r.status).toBe(200);
  expect(r.body.startsWith(": keep-alive\n\n")).toBe(true);
  expect(r.body).toContain('"content":"');
  expect(r.body.trimEnd().endsWith("data: [DONE]")).toBe(true);
});

test("a failure after the hold is an in-stream error frame (the 200 is already out), never [DONE]", async () => {
  const r = await openaiStream("openai/sim@ttft=600,fault=error_after:0");
  expect(r.status).toBe(200);
  expect(r.body.startsWith(": keep-alive\n\n")).toBe(true);
  expect(r.body).toContain('data: {"error":');
  expect(r.body).not.toContain("[DONE]");
});

test("a first token before the hold: no comment, the first chunk is the first thing on the wire", async () => {
  const r = await openaiStream("openai/sim");
  expect(r.status).toBe(200);
  expect(r.body.startsWith("data: {")).toBe(true);
});

test("@anthropic-ai/sdk: a late first token still streams to its finalMessage", async () => {
  const claude = new Anthropic({ apiKey: "any", baseURL: s.url, maxRetries: 0 });
  const msg = await claude.messages
    .stream({
      model: "anthropic/sim@ttft=600",
      max_tokens: 64,
      messages: [{ role: "user", content: "hi" }],
    })
    .finalMessage();
  expect(msg.stop_reason).toBe("end_turn");
  expect(msg.content[0]?.type).toBe("text");
});
