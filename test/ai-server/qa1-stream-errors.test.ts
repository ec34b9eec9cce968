/**
 * An upstream failure before the first chunk of a stream (unknown model, rate limit — after the
 * server's own retries and fallbacks), as the clients see it: the HTTP error a non-stream request
 * gets, as OpenAI's API and LiteLLM answer it (the stream's headers wait for the first token, at
 * most the keep-alive interval). The SDKs' error classes and their own retries work on the status.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { APICallError, streamText } from "ai";
import OpenAI from "openai";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { startTestAiServer, type TestAiServer } from "./harness.ts";

let sim: UpstreamSim;
let s: TestAiServer;
let client: OpenAI;

beforeAll(async () => {
  sim = await startUpstreamSim();
  s = await startTestAiServer(sim, { maxRetries: 0 });
  client = new OpenAI({ apiKey: "any", baseURL: `${s.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await s.stop();
  await sim.stop();
});

async function drain(model: string): Promise<unknown> {
  try {
    const stream = await client.chat.completions.create({
      model,
      stream: true,
      messages: [{ role: "user", content: "x" }],
    });
    for await (const _ of stream) {
      /* drain */
    }
  } catch (e) {
    return e;
  }
  return undefined;
}

test("the openai SDK raises on every prefix: the message names the provider and the upstream status", async () => {
  for (const [model, status] of [
    ["anthropic/unknown-x", 404],
    ["openai/sim@status=429", 429],
    ["google/sim@status=503", 503],
  ] as const) {
    const err = await drain(model);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(String((err as Error).message)).toContain(`${model.split("/")[0]} upstream HTTP ${status}`);
  }
});

test("Vercel AI SDK streamText: an error part, an APICallError with the upstream's status, as against OpenAI", async () => {
  const pipbot = createOpenAICompatible({ name: "pipbot", baseURL: `${s.url}/v1`, apiKey: "any" });
  const r = streamText({ model: pipbot("openai/unknown-x"), prompt: "hi", maxRetries: 0, onError: () => {} });
  const errors: unknown[] = [];
  let text = "";
  for await (const p of r.fullStream) {
    if (p.type === "error") errors.push(p.error);
    if (p.type === "text-delta") text += p.text;
  }
  expect(text).toBe("");
  expect(errors).toHaveLength(1);
  expect(APICallError.isInstance(errors[0])).toBe(true);
  const e = errors[0] as APICallError;
  expect(e.statusCode).toBe(404);
  expect(e.message).toContain("openai upstream HTTP 404");
  // No step finished: the AI SDK says so, as it does when OpenAI itself answers an HTTP error.
  expect(await Promise.resolve(r.finishReason).catch((x: unknown) => (x as Error).name)).toBe(
    "AI_NoOutputGeneratedError",
  );
});

test("an upstream 404 before the first chunk is the HTTP 404 a non-stream request gets (NotFoundError)", async () => {
  const err = await drain("openai/unknown-x");
  expect(err).toBeInstanceOf(OpenAI.NotFoundError);
});

test("an upstream 429 before the first chunk is an HTTP 429 (RateLimitError: the SDK's own retries apply)", async () => {
  const err = await drain("anthropic/sim@status=429");
  expect(err).toBeInstanceOf(OpenAI.RateLimitError);
});
