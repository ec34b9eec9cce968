/** Pure policy pieces: model resolution, retry backoff, upstream error classification, phase timer. */
import { describe, expect, test } from "bun:test";
import { candidateModels, listedModels, resolveModel } from "../../src/ai-server/models.ts";
import { PhaseTimer } from "../../src/ai-server/phase-timer.ts";
import { retryAfterMs, upstreamError } from "../../src/ai-server/providers/upstream-errors.ts";
import { backoffMs } from "../../src/ai-server/retry.ts";
import { PipbotError } from "../../src/shared/errors.ts";
import { manualClock } from "../helpers/manual-clock.ts";

const d = { defaultModel: "anthropic/claude-sonnet-4-5" };

describe("models", () => {
  test("prefix, explicit provider, default provider, default model", () => {
    expect(resolveModel("openai/gpt-4.1", undefined, d)).toEqual({
      provider: "openai",
      model: "gpt-4.1",
      id: "openai/gpt-4.1",
    });
    expect(resolveModel("gpt-4.1", "openai", d).provider).toBe("openai");
    expect(resolveModel("claude-x", undefined, d).provider).toBe("anthropic");
    expect(resolveModel("x", undefined, { ...d, defaultProvider: "google" }).provider).toBe("google");
    expect(resolveModel(undefined, undefined, d).id).toBe("anthropic/claude-sonnet-4-5");
    // an unknown prefix is a 400 listing the configured providers, unless AI_DEFAULT_PROVIDER
    // claims slashed ids (OpenAI-compatible servers use slashes)
    expect(() => resolveModel("nosuch/x", undefined, d, { openai: true, google: true })).toThrow(
      /unknown provider prefix "nosuch\/".*openai\/, google\//,
    );
    expect(resolveModel("meta-llama/llama-3", undefined, { ...d, defaultProvider: "openai" })).toMatchObject({
      provider: "openai",
      model: "meta-llama/llama-3",
    });
    // a bare id with one configured provider goes to it
    expect(resolveModel("llama3.2", undefined, d, { openai: true }).id).toBe("openai/llama3.2");
  });

  test("mismatched provider and prefix is a 400", () => {
    const e = (() => {
      try {
        resolveModel("anthropic/x", "openai", d);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(PipbotError);
    expect((e as PipbotError).status).toBe(400);
  });

  test("candidates and listed models are de-duplicated", () => {
    const p = resolveModel("openai/a", undefined, d);
    expect(candidateModels(p, ["openai/a", "google/b", "google/b"], d).map((m) => m.id)).toEqual([
      "openai/a",
      "google/b",
    ]);
    expect(
      listedModels(d, ["openai/a"], ["anthropic/claude-sonnet-4-5", "google/b"]).map((m) => m.id),
    ).toEqual(["anthropic/claude-sonnet-4-5", "openai/a", "google/b"]);
  });
});

describe("retry policy", () => {
  test("provider hints win (capped); otherwise jittered exponential within bounds", () => {
    expect(backoffMs(1, 1500)).toBe(1500);
    expect(backoffMs(1, 10 * 60_000)).toBe(60_000);
    expect(backoffMs(1, undefined, () => 0)).toBe(125);
    expect(backoffMs(1, undefined, () => 1)).toBe(250);
    expect(backoffMs(3, undefined, () => 1)).toBe(1000);
    expect(backoffMs(20, undefined, () => 1)).toBe(8000);
  });

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
});

describe("phase timer (on a manual clock: no sleeps, no measured durations)", () => {
  test("re-arming keeps pushing the deadline; expiry names the phase armed last", () => {
    const clock = manualClock();
    const fired: number[] = [];
    const timer = new PhaseTimer(() => fired.push(clock.now()), clock);
    timer.arm("first_token", 150);
    // a "token" every 20 ms for 200 ms: the 150 ms idle deadline never passes.
    for (let i = 0; i < 10; i++) {
      clock.advance(20);
      timer.arm("idle", 150);
    }
    expect(fired).toEqual([]);
    expect(timer.expired).toBeUndefined();
    clock.advance(149);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([350]); // 150 ms after the last token at 200
    expect(timer.expired).toEqual({ phase: "idle", ms: 150 });
    expect(clock.pending()).toBe(0);
  });

  test("re-arming costs one timer per idle period, not one per token", () => {
    const clock = manualClock();
    let scheduled = 0;
    const counting = {
      ...clock,
      setTimeout: (fn: () => void, ms: number) => {
        scheduled++;
        return clock.setTimeout(fn, ms);
      },
    };
    const fired: number[] = [];
    const timer = new PhaseTimer(() => fired.push(clock.now()), counting);
    timer.arm("idle", 100);
    for (let i = 0; i < 50; i++) {
      clock.advance(1);
      timer.arm("idle", 100);
    }
    expect(scheduled).toBe(1);
    clock.advance(100); // the first timer fires early, re-arms once for the remainder, then expires
    expect(scheduled).toBe(2);
    expect(fired).toEqual([150]);
  });

  test("a nearer deadline than the pending timer is re-scheduled earlier", () => {
    const clock = manualClock();
    const fired: number[] = [];
    const timer = new PhaseTimer(() => fired.push(clock.now()), clock);
    timer.arm("first_token", 10_000);
    timer.arm("idle", 30);
    clock.advance(30);
    expect(fired).toEqual([30]);
    expect(timer.expired?.phase).toBe("idle");
  });

  test("clear stops it", () => {
    const clock = manualClock();
    const fired: number[] = [];
    const timer = new PhaseTimer(() => fired.push(clock.now()), clock);
    timer.arm("connect", 20);
    timer.clear();
    clock.advance(1000);
    expect(fired).toEqual([]);
    expect(clock.pending()).toBe(0);
  });
});
