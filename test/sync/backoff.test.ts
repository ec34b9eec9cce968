import { describe, expect, test } from "bun:test";
import { fullJitterDelay, MAX_RETRY_AFTER_MS, parseRetryAfter, retryDelay } from "../../src/sync/backoff.ts";

const policy = { baseMs: 1_000, capMs: 300_000 };

describe("full-jitter backoff", () => {
  test("the window doubles from the base and stops at the cap", () => {
    const top = (n: number) => fullJitterDelay(n, policy, () => 0.999999);
    expect([1, 2, 3, 4].map(top)).toEqual([999, 1_999, 3_999, 7_999]);
    expect(top(9)).toBe(255_999);
    expect(top(10)).toBe(299_999);
    expect(top(1_000)).toBe(299_999);
  });

  test("jitter spans the whole window from zero", () => {
    expect(fullJitterDelay(5, policy, () => 0)).toBe(0);
    expect(fullJitterDelay(5, policy, () => 0.5)).toBe(8_000);
  });

  test("Retry-After is a floor, never shortened by jitter", () => {
    expect(retryDelay(1, policy, 20_000, () => 0.5)).toBe(20_000);
    expect(retryDelay(10, policy, 1_000, () => 0.5)).toBe(150_000);
    expect(retryDelay(1, policy, undefined, () => 0.5)).toBe(500);
  });
});

describe("Retry-After parsing", () => {
  const now = Date.parse("2026-03-01T12:00:00Z");
  test("seconds, HTTP dates, past dates, garbage", () => {
    expect(parseRetryAfter("3", now)).toBe(3_000);
    expect(parseRetryAfter(" 1.5 ", now)).toBe(1_500);
    expect(parseRetryAfter("Sun, 01 Mar 2026 12:01:00 GMT", now)).toBe(60_000);
    expect(parseRetryAfter("Sun, 01 Mar 2026 11:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("later", now)).toBeUndefined();
    expect(parseRetryAfter("", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter("-5", now)).toBeUndefined();
  });
  test("absurd values are clamped", () => {
    expect(parseRetryAfter("99999999", now)).toBe(MAX_RETRY_AFTER_MS);
  });
});
