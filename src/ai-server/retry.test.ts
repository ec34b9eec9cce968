/** Retry backoff: provider hints and jittered exponential delays. */
import { describe, expect, test } from "bun:test";
import { backoffMs } from "./retry.ts";

describe("retry policy", () => {
  test("provider hints win (capped); otherwise jittered exponential within bounds", () => {
    expect(backoffMs(1, 1500)).toBe(1500);
    expect(backoffMs(1, 10 * 60_000)).toBe(60_000);
    expect(backoffMs(1, undefined, () => 0)).toBe(125);
    expect(backoffMs(1, undefined, () => 1)).toBe(250);
    expect(backoffMs(3, undefined, () => 1)).toBe(1000);
    expect(backoffMs(20, undefined, () => 1)).toBe(8000);
  });
});
