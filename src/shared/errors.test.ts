import { describe, expect, test } from "bun:test";
import { errorResponse, PipbotError, toPipbotError } from "./errors.ts";

describe("one error shape", () => {
  test("PipbotError serializes to code, message, retryable, retryAfterMs", () => {
    const e = new PipbotError("rate_limited", "slow down", { retryable: true, retryAfterMs: 1500.4 });
    expect(e.status).toBe(429);
    expect(e.toJSON()).toEqual({
      code: "rate_limited",
      message: "slow down",
      retryable: true,
      retryAfterMs: 1500,
    });
    expect(e.toHttpBody()).toEqual({ error: e.toJSON() });
  });

  test("errorResponse carries status, JSON body and retry-after", async () => {
    const res = errorResponse(
      new PipbotError("upstream_overloaded", "busy", { retryable: true, retryAfterMs: 2001 }),
    );
    expect(res.status).toBe(529);
    expect(res.headers.get("retry-after")).toBe("3");
    expect(await res.json()).toEqual({
      error: { code: "upstream_overloaded", message: "busy", retryable: true, retryAfterMs: 2001 },
    });
  });

  test("unknown throwables become internal errors, aborts become client_closed", () => {
    expect(toPipbotError(new Error("x")).code).toBe("internal");
    const abort = new Error("aborted");
    abort.name = "AbortError";
    expect(toPipbotError(abort).code).toBe("client_closed");
    expect(toPipbotError("s").message).toBe("s");
  });
});
