/**
 * QA of /v1/messages through the real `@anthropic-ai/sdk`: the SDK exposes Anthropic's `request-id`
 * response header as `withResponse().request_id`, `MessageStream.request_id` and `APIError.requestID` (what users quote in bug
 * reports). pipbot's own id is `x-pipbot-request-id` on every response.
 */
import { expect, test } from "bun:test";
import type Anthropic from "@anthropic-ai/sdk";
import { claudeSurface, TOKEN } from "./surface-helpers.ts";

const t = claudeSurface();

const ask = (model = "claude-sim@tokens=2") => ({
  model,
  max_tokens: 50,
  messages: [{ role: "user" as const, content: "id?" }],
});

test("x-pipbot-request-id on a non-stream reply, a stream and an error (the SDK's raw responses)", async () => {
  const { response } = await t.claude.messages.create(ask()).withResponse();
  expect(response.headers.get("x-pipbot-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  const st = t.claude.messages.stream(ask());
  await st.finalMessage();
  expect((await st.withResponse()).response.headers.get("x-pipbot-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  const e = (await t.claude.messages
    .create(ask("anthropic/unknown-x"))
    .catch((x: unknown) => x)) as InstanceType<typeof Anthropic.APIError>;
  expect(e.headers?.get("x-pipbot-request-id")).toMatch(/^[0-9a-f-]{36}$/);
});

test("the SDK's request_id and APIError.requestID are pipbot's request id", async () => {
  const { request_id, response } = await t.claude.messages.create(ask()).withResponse();
  expect(request_id).toBe(response.headers.get("x-pipbot-request-id"));
  const st = t.claude.messages.stream(ask());
  await st.finalMessage();
  expect(st.request_id).toBeTruthy();
  const e = (await t.claude.messages
    .create(ask("anthropic/unknown-x"))
    .catch((x: unknown) => x)) as InstanceType<typeof Anthropic.APIError>;
  expect(e.requestID).toBe(e.headers?.get("x-pipbot-request-id") ?? "none");
});

test("the openai SDK's request_id and APIError.requestID are pipbot's request id too", async () => {
  const { default: OpenAI } = await import("openai");
  const client = new OpenAI({ apiKey: TOKEN, baseURL: `${t.s.server.url}/v1`, maxRetries: 0 });
  const { request_id, response } = await client.chat.completions
    .create({ model: "openai/sim@tokens=2", messages: [{ role: "user", content: "id?" }] })
    .withResponse();
  expect(request_id).toBe(response.headers.get("x-pipbot-request-id"));
  const e = (await client.chat.completions
    .create({ model: "openai/unknown-x", messages: [{ role: "user", content: "id?" }] })
    .catch((x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
  expect(e.requestID).toBe(e.headers?.get("x-pipbot-request-id") ?? "none");
});
