import { describe, expect, test } from "bun:test";
import { MAX_RETRY_AFTER_MS, retryDelay, syncRetryAfterMs } from "./backoff.ts";

const policy = { baseMs: 1_000, capMs: 300_000 };

describe("sync retry timing", () => {
  test("full jitter over the doubling window", () => {
    expect(retryDelay(1, policy, undefined, () => 0.999999)).toBe(999);
    expect(retryDelay(5, policy, undefined, () => 0)).toBe(0);
    expect(retryDelay(1_000, policy, undefined, () => 0.999999)).toBe(299_999);
  });

  test("Retry-After is a floor, never shortened by jitter", () => {
    expect(retryDelay(1, policy, 20_000, () => 0.5)).toBe(20_000);
    expect(retryDelay(10, policy, 1_000, () => 0.5)).toBe(150_000);
    expect(retryDelay(1, policy, undefined, () => 0.5)).toBe(500);
  });

  test("a receiver's Retry-After is honoured up to an hour", () => {
    const now = Date.parse("2026-03-01T12:00:00Z");
    expect(syncRetryAfterMs("3", now)).toBe(3_000);
    expect(syncRetryAfterMs("Sun, 01 Mar 2026 12:01:00 GMT", now)).toBe(60_000);
    expect(syncRetryAfterMs("99999999", now)).toBe(MAX_RETRY_AFTER_MS);
    expect(syncRetryAfterMs("later", now)).toBeUndefined();
  });
});
