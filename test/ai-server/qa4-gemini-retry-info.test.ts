/**
 * Gemini's rate limit as the Gemini API sends it: a 429 RESOURCE_EXHAUSTED whose retry hint is in
 * the BODY (`details[]` → `google.rpc.RetryInfo` `retryDelay: "37s"`), with no Retry-After header.
 * The hint must reach the caller like any provider's Retry-After: the openai SDK's `retry-after`
 * header (stream and not) and /chat's `retryAfterMs`. A test-local Gemini fake speaks that wire
 * (the shared simulator sends the hint as a header, which the Gemini API does not).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { postChat, SIM_KEY, startTestAiServer, type TestAiServer } from "./harness.ts";

const TOKEN = "qa4-retry-token-0123456789";
let sim: UpstreamSim;
let gemini: ReturnType<typeof Bun.serve>;
let server: TestAiServer;
let openai: OpenAI;
const seen: string[] = [];

/** The Gemini API's 429 body (shape of a real free-tier quota answer). */
function quotaBody(delay: string) {
  return {
    error: {
      code: 429,
      message: `You exceeded your current quota, please check your plan and billing details. Please retry in ${delay}.`,
      status: "RESOURCE_EXHAUSTED",
      details: [
        {
          "@type": "type.googleapis.com/google.rpc.QuotaFailure",
          violations: [
            { quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests" },
          ],
        },
        {
          "@type": "type.googleapis.com/google.rpc.Help",
          links: [{ description: "Learn more", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }],
        },
        { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: delay },
      ],
    },
  };
}

beforeAll(async () => {
  sim = await startUpstreamSim();
  gemini = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const url = new URL(req.url);
      seen.push(url.pathname);
      // The model name carries the delay to answer with: google/<delay>s-model
      const delay = /models\/([\d.]+s)-/.exec(url.pathname)?.[1] ?? "37s";
      return Response.json(quotaBody(delay), { status: 429 });
    },
  });
  server = await startTestAiServer(
    sim,
    { token: TOKEN, maxRetries: 0 },
    { keys: { google: SIM_KEY }, baseUrls: { google: `http://127.0.0.1:${gemini.port}` } },
  );
  openai = new OpenAI({ apiKey: TOKEN, baseURL: `${server.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await server.stop();
  await gemini.stop(true);
  await sim.stop();
});

describe("Gemini 429 with RetryInfo in the body", () => {
  test("openai SDK, non-stream: 429 with retry-after from retryDelay", async () => {
    const err = await openai.chat.completions
      .create({ model: "google/37s-model", messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const e = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(e.headers?.get("retry-after")).toBe("37");
    expect(e.headers?.get("retry-after-ms")).toBe("37000");
    expect(seen.at(-1)).toEndWith(":generateContent");
  });

  test("openai SDK, stream (held until the first token): 429 with retry-after", async () => {
    const err = await openai.chat.completions
      .create({ model: "google/2.5s-model", stream: true, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const e = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(e.headers?.get("retry-after-ms")).toBe("2500");
    expect(e.headers?.get("retry-after")).toBe("3");
  });

  test("/chat: rate_limited with retryAfterMs", async () => {
    const res = await postChat(
      server.url,
      { model: "google/12s-model", messages: [{ role: "user", content: "hi" }] },
      { authorization: `Bearer ${TOKEN}` },
    );
    expect(res.status).toBe(429);
    const body = (await res.json()) as { error: { code: string; retryAfterMs?: number } };
    expect(body.error).toMatchObject({ code: "rate_limited", retryAfterMs: 12_000 });
    expect(res.headers.get("retry-after")).toBe("12");
  });

  test("the retry loop takes the hint: a delay past the request's time budget is not retried into the same quota", async () => {
    const patient = await startTestAiServer(
      sim,
      { token: TOKEN, maxRetries: 2 },
      { keys: { google: SIM_KEY }, baseUrls: { google: `http://127.0.0.1:${gemini.port}` } },
    );
    try {
      const before = seen.length;
      const res = await postChat(
        patient.url,
        { model: "google/3600s-model", messages: [{ role: "user", content: "hi" }] },
        { authorization: `Bearer ${TOKEN}` },
      );
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("3600");
      // Without the hint: three requests (two quick backoff retries into the exhausted quota).
      expect(seen.length - before).toBe(1);
    } finally {
      await patient.stop();
    }
  });
});
