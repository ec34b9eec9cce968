import { describe, expect, test } from "bun:test";
import { abortableSleep, backoffDelay, parseRetryAfter } from "./backoff.ts";

describe("backoffDelay", () => {
  const top = () => 0.999999;
  test("the window doubles from the base and stops at the cap", () => {
    const p = { baseMs: 1_000, capMs: 300_000, jitter: "full" } as const;
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, p, top))).toEqual([999, 1_999, 3_999, 7_999]);
    expect(backoffDelay(9, p, top)).toBe(255_999);
    expect(backoffDelay(10, p, top)).toBe(299_999);
    expect(backoffDelay(1_000, p, top)).toBe(299_999);
  });

  test("full jitter spans the whole window from zero", () => {
    const p = { baseMs: 1_000, capMs: 300_000, jitter: "full" } as const;
    expect(backoffDelay(5, p, () => 0)).toBe(0);
    expect(backoffDelay(5, p, () => 0.5)).toBe(8_000);
  });

  test("equal jitter stays in the upper half of the window", () => {
    const p = { baseMs: 250, capMs: 8_000, jitter: "equal" } as const;
    expect(backoffDelay(1, p, () => 0)).toBe(125);
    expect(backoffDelay(1, p, () => 1)).toBe(250);
    expect(backoffDelay(3, p, () => 1)).toBe(1000);
    expect(backoffDelay(20, p, () => 1)).toBe(8000);
  });

  test("no jitter: exactly the doubling window", () => {
    const p = { baseMs: 100, capMs: 400, jitter: "none" } as const;
    expect([1, 2, 3, 4, 99].map((n) => backoffDelay(n, p, () => 0.5))).toEqual([100, 200, 400, 400, 400]);
  });
});

describe("abortableSleep", () => {
  test("resolves false when aborted (before or during), true when the wait passed", async () => {
    const ac = new AbortController();
    const p = abortableSleep(60_000, ac.signal);
    ac.abort();
    expect(await p).toBe(false);
    expect(await abortableSleep(60_000, ac.signal)).toBe(false);
    expect(await abortableSleep(0, new AbortController().signal)).toBe(true);
    expect(await abortableSleep(1)).toBe(true);
  });
});

describe("parseRetryAfter", () => {
  const nowMs = Date.parse("2026-03-01T12:00:00Z");
  test("seconds, HTTP dates, past dates, garbage", () => {
    expect(parseRetryAfter("3", { nowMs })).toBe(3_000);
    expect(parseRetryAfter(" 1.5 ", { nowMs })).toBe(1_500);
    expect(parseRetryAfter("Sun, 01 Mar 2026 12:01:00 GMT", { nowMs })).toBe(60_000);
    expect(parseRetryAfter("Sun, 01 Mar 2026 11:00:00 GMT", { nowMs })).toBe(0);
    expect(parseRetryAfter("later", { nowMs })).toBeUndefined();
    expect(parseRetryAfter("2026-03-01T12:01:00Z", { nowMs })).toBeUndefined();
    expect(parseRetryAfter("", { nowMs })).toBeUndefined();
    expect(parseRetryAfter(null, { nowMs })).toBeUndefined();
    expect(parseRetryAfter("-5", { nowMs })).toBeUndefined();
  });
  test("the caller's cap clamps absurd values", () => {
    expect(parseRetryAfter("99999999", { nowMs })).toBe(99_999_999_000);
    expect(parseRetryAfter("99999999", { nowMs, maxMs: 60_000 })).toBe(60_000);
    expect(parseRetryAfter("Sun, 01 Mar 2099 12:00:00 GMT", { nowMs, maxMs: 5 })).toBe(5);
  });
});
