/**
 * QA of /v1/messages with the real `@anthropic-ai/sdk`'s own agent loop,
 * `client.beta.messages.toolRunner()`: on an `Anthropic` client it asks for a server-held message
 * thread (`thread: {type:"create"}`), and falls back to sending the whole history when the server
 * answers Anthropic's `thread_unsupported_request` rejection. pipbot holds no threads: it must
 * refuse the field in exactly that shape, so the runner works unchanged — and a caller that asked
 * for a thread itself gets a clear 400.
 */
import { expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { betaTool } from "@anthropic-ai/sdk/helpers/beta/json-schema";
import { claudeSurface } from "./surface-helpers.ts";

const t = claudeSurface();

const ran: string[] = [];
const weather = betaTool({
  name: "get_weather",
  description: "Weather of a city",
  inputSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  run: ({ city }) => {
    ran.push(city);
    return `sunny in ${city}`;
  },
});

for (const stream of [false, true])
  test(`toolRunner (${stream ? "stream" : "create"}): the tool runs and the loop ends with the model's answer`, async () => {
    ran.length = 0;
    const runner = t.claude.beta.messages.toolRunner({
      model: "claude-sim@tokens=2",
      max_tokens: 1000,
      max_iterations: 3,
      tools: [weather],
      messages: [{ role: "user", content: "weather in Paris?" }],
      ...(stream ? { stream: true as const } : {}),
    });
    const final = await runner.runUntilDone();
    expect(ran).toEqual(["Paris"]);
    const text = final.content.find((b) => b.type === "text");
    expect(text).toMatchObject({
      text: expect.stringContaining("Tool get_weather returned sunny in Paris."),
    });
    // Nothing that reached the upstream carried a thread.
    expect(t.s.sim.requests.map((r) => "thread" in (r.body as object))).toEqual([false, false]);
  });

test("a request asking for a thread itself: 400 thread_unsupported_request naming the field", async () => {
  const e = (await t.claude.messages
    .create({
      model: "claude-sim",
      max_tokens: 10,
      messages: [{ role: "user", content: "x" }],
      thread: { type: "create" },
    } as Anthropic.MessageCreateParamsNonStreaming)
    .catch((x: unknown) => x)) as InstanceType<typeof Anthropic.APIError>;
  expect(e).toBeInstanceOf(Anthropic.BadRequestError);
  expect(e.error).toMatchObject({
    type: "error",
    error: { type: "invalid_request_error", details: { error_code: "thread_unsupported_request" } },
  });
  expect(e.message).toContain("thread");
  expect(t.s.sim.requests).toEqual([]);
});
