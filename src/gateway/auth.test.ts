/** Gateway auth: constant-time token check and the failed-attempt limiter's sliding window (time injected). */
import { describe, expect, test } from "bun:test";
import { AuthRateLimiter, checkToken } from "./auth.ts";

describe("auth", () => {
  test("token from auth.token, auth.password, or bearer; constant-time compare", () => {
    expect(checkToken({ token: "secret-1" }, undefined, "secret-1")).toBe("ok");
    expect(checkToken({ password: "secret-1" }, undefined, "secret-1")).toBe("ok");
    expect(checkToken(undefined, "secret-1", "secret-1")).toBe("ok");
    expect(checkToken({ token: "" }, undefined, "secret-1")).toBe("missing");
    expect(checkToken(undefined, undefined, "secret-1")).toBe("missing");
    expect(checkToken({ token: "secret-2" }, "secret-1", "secret-1")).toBe("mismatch");
  });

  test("the limiter slides: 3 failures per 1000 ms", () => {
    let now = 0;
    const l = new AuthRateLimiter({ maxFailures: 3, windowMs: 1000, now: () => now });
    for (const t of [0, 100, 200]) {
      now = t;
      expect(l.retryAfterMs("a")).toBe(0);
      l.recordFailure("a");
    }
    now = 300;
    expect(l.retryAfterMs("a")).toBe(700);
    expect(l.retryAfterMs("b")).toBe(0);
    now = 1001;
    expect(l.retryAfterMs("a")).toBe(0); // the first failure left the window
    l.reset("a");
    expect(l.trackedAddresses).toBe(0);
  });

  test("the limiter forgets the oldest address beyond its capacity", () => {
    const l = new AuthRateLimiter({ maxFailures: 1, maxAddresses: 2 });
    l.recordFailure("a");
    l.recordFailure("b");
    l.recordFailure("c");
    expect(l.trackedAddresses).toBe(2);
    expect(l.retryAfterMs("a")).toBe(0);
    expect(l.retryAfterMs("c")).toBeGreaterThan(0);
  });
});
