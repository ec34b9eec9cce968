/** Upstream errors: Retry-After parsing and retryable/not-retryable classification. */
import { describe, expect, test } from "bun:test";
import { retryAfterMs, upstreamError } from "./upstream-errors.ts";

describe("retry policy", () => {
  test("retry-after-ms, retry-after seconds and HTTP dates", () => {
    expect(retryAfterMs(new Headers({ "retry-after-ms": "250", "retry-after": "9" }))).toBe(250);
    expect(retryAfterMs(new Headers({ "retry-after": "2" }))).toBe(2000);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:03 GMT" }), now)).toBe(3000);
    expect(retryAfterMs(new Headers())).toBeUndefined();
  });
});

describe("upstream error classification", () => {
  const cls = (status: number | undefined, extra: Partial<Parameters<typeof upstreamError>[0]> = {}) =>
    upstreamError({
      provider: "openai",
      message: "m",
      ...(status !== undefined ? { status } : {}),
      ...extra,
    });

  test("retryable: 408, 409, 429, 5xx, 529, connection, in-stream overload", () => {
    for (const s of [408, 409, 429, 500, 502, 503, 504, 529]) expect(cls(s).retryable).toBe(true);
    expect(cls(undefined, { connection: true }).code).toBe("upstream_connection");
    expect(cls(undefined, { type: "overloaded_error" }).code).toBe("upstream_overloaded");
    expect(cls(529).status).toBe(529);
  });

  test("not retryable: 400, 401, 403, 404, 413, insufficient_quota; x-should-retry overrides", () => {
    for (const s of [400, 401, 403, 404, 413]) expect(cls(s).retryable).toBe(false);
    expect(cls(404).status).toBe(404);
    expect(cls(401).message).toContain("OPENAI_API_KEY");
    expect(cls(429, { type: "insufficient_quota" }).retryable).toBe(false);
    expect(cls(500, { headers: new Headers({ "x-should-retry": "false" }) }).retryable).toBe(false);
    expect(cls(400, { headers: new Headers({ "x-should-retry": "true" }) }).retryable).toBe(true);
    expect(cls(429, { headers: new Headers({ "retry-after": "3" }) }).retryAfterMs).toBe(3000);
  });

  test("a 401/403 names every credential kind of its provider (Vertex AI, Anthropic bearer tokens too)", () => {
    const hint = (provider: "anthropic" | "openai" | "google", status: number) =>
      upstreamError({ provider, status, message: "m" }).message;
    expect(hint("google", 403)).toContain("GOOGLE_APPLICATION_CREDENTIALS_JSON");
    expect(hint("google", 401)).toContain("GEMINI_API_KEY");
    expect(hint("anthropic", 401)).toContain("ANTHROPIC_AUTH_TOKEN");
    expect(hint("openai", 401)).toContain("OPENAI_BASE_URL");
    for (const p of ["anthropic", "openai", "google"] as const)
      expect(hint(p, 401)).toContain("PIPBOT_SERVICE_TOKEN in proxy mode");
    expect(hint("google", 500)).not.toContain("check");
  });
});
