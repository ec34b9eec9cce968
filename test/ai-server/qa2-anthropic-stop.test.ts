/**
 * QA of /v1/messages stop fields through the real `@anthropic-ai/sdk`, against a fake Anthropic
 * upstream (Bun.serve on port 0 speaking the Messages wire: a whole message, or its SSE stream)
 * that ends with the stop reason the test asks for — stop reasons the simulator never produces.
 * Every stop reason of the SDK's `StopReason` must reach the client as Anthropic sent it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { startTestAiServer, type TestAiServer } from "./harness.ts";

/** The last user text says how to stop: "stop_reason[:stop_sequence]". */
function fakeAnthropic() {
  return Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const body = (await req.json()) as { stream?: boolean; messages: { content: { text?: string }[] }[] };
      const said = body.messages.at(-1)?.content.at(-1)?.text ?? "end_turn";
      const [reason, sequence = null] = said.split(":");
      const usage = {
        input_tokens: 11,
        output_tokens: 2,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 0,
      };
      const message = { id: "msg_fake", type: "message", role: "assistant", model: "claude-fake" };
      if (!body.stream)
        return Response.json({
          ...message,
          content: [{ type: "text", text: "partial" }],
          stop_reason: reason,
          stop_sequence: sequence,
          usage,
        });
      const ev = (type: string, data: object) =>
        `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
      return new Response(
        ev("message_start", {
          message: {
            ...message,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { ...usage, output_tokens: 1 },
          },
        }) +
          ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }) +
          ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "partial" } }) +
          ev("content_block_stop", { index: 0 }) +
          ev("message_delta", {
            delta: { stop_reason: reason, stop_sequence: sequence },
            usage: { output_tokens: 2 },
          }) +
          ev("message_stop", {}),
        { headers: { "content-type": "text/event-stream" } },
      );
    },
  });
}

let fake: ReturnType<typeof fakeAnthropic>;
let sim: UpstreamSim;
let server: TestAiServer;
let claude: Anthropic;
beforeAll(async () => {
  fake = fakeAnthropic();
  sim = await startUpstreamSim();
  server = await startTestAiServer(
    sim,
    {},
    { keys: { anthropic: "fake-key" }, baseUrls: { anthropic: `http://127.0.0.1:${fake.port}` } },
  );
  claude = new Anthropic({ apiKey: "any-key-000000", baseURL: server.url, maxRetries: 0 });
});
afterAll(async () => {
  await server.stop();
  await sim.stop();
  await fake.stop(true);
});

const ask = (said: string) => ({
  model: "claude-fake",
  max_tokens: 100,
  messages: [{ role: "user" as const, content: said }],
});

for (const reason of ["model_context_window_exceeded", "pause_turn", "refusal", "max_tokens"] as const)
  test(`stop_reason ${reason} reaches the SDK as Anthropic sent it (create and stream)`, async () => {
    const whole = await claude.messages.create(ask(reason));
    expect(whole.stop_reason).toBe(reason);
    expect(whole.content.map((b) => (b.type === "text" ? b.text : b.type))).toEqual(["partial"]);
    const streamed = await claude.messages.stream(ask(reason)).finalMessage();
    expect(streamed.stop_reason).toBe(reason);
  });

test("stop_sequence: the sequence Anthropic matched reaches the SDK (create and stream)", async () => {
  const whole = await claude.messages.create(ask("stop_sequence:###"));
  expect([whole.stop_reason, whole.stop_sequence]).toEqual(["stop_sequence", "###"]);
  const streamed = await claude.messages.stream(ask("stop_sequence:###")).finalMessage();
  expect([streamed.stop_reason, streamed.stop_sequence]).toEqual(["stop_sequence", "###"]);
});
