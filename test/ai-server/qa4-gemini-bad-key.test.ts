/**
 * A wrong or expired GEMINI_API_KEY: the Gemini API answers HTTP **400** INVALID_ARGUMENT ("API key
 * not valid. Please pass a valid API key.", `google.rpc.ErrorInfo` reason API_KEY_INVALID), not 401
 * or 403. That is the server's credential failing, not the caller's request: the client must see
 * what a 401/403 from any provider gives (502 upstream_error naming GEMINI_API_KEY), not a 400 that
 * tells the app developer to fix their request. A test-local fake speaks that wire (the simulator
 * answers a wrong key with 403).
 */
import { describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { fakeProviderServer, postChat } from "./harness.ts";

const KEY_INVALID = {
  error: {
    code: 400,
    message: "API key not valid. Please pass a valid API key.",
    status: "INVALID_ARGUMENT",
    details: [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        reason: "API_KEY_INVALID",
        domain: "googleapis.com",
        metadata: { service: "generativelanguage.googleapis.com" },
      },
      {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        locale: "en-US",
        message: "API key not valid. Please pass a valid API key.",
      },
    ],
  },
};
/** A plain bad request (no ErrorInfo reason): still the caller's 400. */
const BAD_ARG = {
  error: {
    code: 400,
    message: "* GenerationConfig.max_output_tokens: must be positive",
    status: "INVALID_ARGUMENT",
  },
};

let calls = 0;
const t = fakeProviderServer(
  "google",
  (req) => {
    calls++;
    const bad = new URL(req.url).pathname.includes("/models/badarg");
    return Response.json(bad ? BAD_ARG : KEY_INVALID, { status: 400 });
  },
  { maxRetries: 2 },
);

const messages = [{ role: "user" as const, content: "hi" }];

describe("Gemini's 400 API_KEY_INVALID is a credential failure", () => {
  for (const stream of [false, true])
    test(`openai SDK ${stream ? "stream" : "non-stream"}: 502 naming GEMINI_API_KEY, not a 400, not retried`, async () => {
      const before = calls;
      const err = await t.openai.chat.completions
        .create({ model: "google/gemini-2.5-flash", messages, stream: stream as false })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      const e = err as InstanceType<typeof OpenAI.APIError>;
      expect(e.status).toBe(502);
      expect(e.message).toContain("API key not valid");
      expect(e.message).toContain("check GEMINI_API_KEY");
      expect(calls - before).toBe(1);
    });

  test("/chat: upstream_error, retryable false, details name the upstream 400", async () => {
    const res = await postChat(t.server.url, { model: "google/gemini-2.5-flash", messages });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({
      code: "upstream_error",
      retryable: false,
      details: { provider: "google", upstreamStatus: 400, upstreamType: "INVALID_ARGUMENT" },
    });
  });

  test("a 400 without that reason stays the caller's 400", async () => {
    const err = await t.openai.chat.completions
      .create({ model: "google/badarg", messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toContain("max_output_tokens");
  });
});
