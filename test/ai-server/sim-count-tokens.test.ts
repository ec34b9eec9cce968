/**
 * The upstream simulator's Anthropic `POST /v1/messages/count_tokens`, with the official
 * `@anthropic-ai/sdk` pointed straight at it (its fidelity): `{input_tokens}` and a request id, the
 * same number as a generation's usage for the same content, and Anthropic's error bodies.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";

let sim: UpstreamSim;
let sdk: Anthropic;
beforeAll(async () => {
  sim = await startUpstreamSim();
  sdk = new Anthropic({ apiKey: "sim-direct-key", baseURL: sim.url, maxRetries: 0 });
});
afterAll(() => sim.stop());

const weather: Anthropic.Tool = {
  name: "get_weather",
  input_schema: { type: "object", properties: { city: { type: "string" } } },
};
const tokensOf = (chars: number) => Math.max(1, Math.ceil(chars / 4));

test("{input_tokens} with a request id; the same number as a generation's usage", async () => {
  const params = {
    model: "claude-sim",
    system: "sys",
    messages: [{ role: "user" as const, content: "hello" }],
    tools: [weather],
  };
  const counted = await sdk.messages.countTokens(params);
  expect(counted.input_tokens).toBe(tokensOf("sys".length + "hello".length + JSON.stringify(weather).length));
  const res = await fetch(`${sim.url}/v1/messages/count_tokens`, {
    method: "POST",
    headers: { "x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json" },
    body: JSON.stringify(params),
  });
  expect(res.headers.get("request-id")).toMatch(/^req_/);
  expect(await res.json()).toEqual({ input_tokens: counted.input_tokens });
  const m = await sdk.messages.create({ ...params, max_tokens: 50, tool_choice: { type: "none" } });
  expect(m.usage.input_tokens).toBe(counted.input_tokens);
});

test("Anthropic's errors: extra inputs → 400, unknown model → 404, no anthropic-version → 400", async () => {
  const extra = await sdk.messages
    .countTokens({ model: "sim", max_tokens: 5, messages: [{ role: "user", content: "x" }] } as never)
    .catch((e) => e);
  expect(extra).toBeInstanceOf(Anthropic.BadRequestError);
  expect(extra.error).toMatchObject({
    type: "error",
    error: { type: "invalid_request_error", message: "max_tokens: Extra inputs are not permitted" },
  });
  const unknown = await sdk.messages
    .countTokens({ model: "unknown-model", messages: [{ role: "user", content: "x" }] })
    .catch((e) => e);
  expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
  expect(unknown.error).toMatchObject({
    type: "error",
    error: { type: "not_found_error", message: "model: unknown-model" },
  });
  const noVersion = await fetch(`${sim.url}/v1/messages/count_tokens`, {
    method: "POST",
    headers: { "x-api-key": "k", "content-type": "application/json" },
    body: JSON.stringify({ model: "sim", messages: [{ role: "user", content: "x" }] }),
  });
  expect(noVersion.status).toBe(400);
  await noVersion.text();
});
