/** Anthropic's error types by HTTP status (its documented list; anything else is api_error). */
import { expect, test } from "bun:test";
import { anthropicErrorType } from "./anthropic-errors.ts";

test("each documented status has Anthropic's type; others are api_error", () => {
  const got = [400, 401, 402, 403, 404, 413, 429, 500, 504, 529, 418, 503].map(anthropicErrorType);
  expect(got).toEqual([
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "timeout_error",
    "overloaded_error",
    "api_error",
    "api_error",
  ]);
});
