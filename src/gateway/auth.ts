/**
 * Gateway authentication: the token check of `connect` (constant time, never logged) and the
 * per-address limiter of failed attempts (sliding window). Both are pure: time is injected.
 */

import { PipbotError } from "../shared/errors.ts";
import { secureEqual } from "../shared/secure-compare.ts";

export type AuthOutcome = "ok" | "missing" | "mismatch";

/**
 * Check the credentials of a `connect`: `auth.token`, else `auth.password`, else the bearer token
 * of the upgrade request (an allowed extension).
 */
export function checkToken(
  auth: { token?: string | undefined; password?: string | undefined } | undefined,
  bearer: string | undefined,
  expected: string,
): AuthOutcome {
  const given = nonEmpty(auth?.token) ?? nonEmpty(auth?.password) ?? nonEmpty(bearer);
  if (given === undefined) return "missing";
  return secureEqual(given, expected) ? "ok" : "mismatch";
}

function nonEmpty(s: string | undefined): string | undefined {
  return typeof s === "string" && s.length > 0 ? s : undefined;
}

export function authError(outcome: Exclude<AuthOutcome, "ok">): PipbotError {
  return outcome === "missing"
    ? new PipbotError("unauthorized", "unauthorized: gateway token missing", {
        details: { code: "AUTH_TOKEN_MISSING", recommendedNextStep: "update_auth_credentials" },
      })
    : new PipbotError("unauthorized", "unauthorized: gateway token mismatch", {
        details: { code: "AUTH_TOKEN_MISMATCH", recommendedNextStep: "update_auth_credentials" },
      });
}

export function rateLimitedError(retryAfterMs: number): PipbotError {
  return new PipbotError("rate_limited", "unauthorized: too many failed authentication attempts", {
    details: { code: "AUTH_RATE_LIMITED", recommendedNextStep: "wait_then_retry" },
    retryable: true,
    retryAfterMs: Math.max(1, retryAfterMs),
  });
}

export interface RateLimiterOptions {
  maxFailures: number;
  windowMs?: number;
  now?: () => number;
  /** Addresses tracked at most (oldest forgotten first), so a scan cannot grow memory unbounded. */
  maxAddresses?: number;
}

/** Failed attempts per address in a sliding window. */
export class AuthRateLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly maxAddresses: number;

  constructor(opts: RateLimiterOptions) {
    this.maxFailures = opts.maxFailures;
    this.windowMs = opts.windowMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.maxAddresses = opts.maxAddresses ?? 10_000;
  }

  private recent(addr: string): number[] {
    const list = this.failures.get(addr);
    if (!list) return [];
    const cutoff = this.now() - this.windowMs;
    while (list.length > 0 && (list[0] as number) <= cutoff) list.shift();
    if (list.length === 0) this.failures.delete(addr);
    return list;
  }

  /** Milliseconds until the address may try again, or 0 when it is not limited. */
  retryAfterMs(addr: string): number {
    const list = this.recent(addr);
    if (list.length < this.maxFailures) return 0;
    const oldest = list[list.length - this.maxFailures] as number;
    return Math.max(1, oldest + this.windowMs - this.now());
  }

  recordFailure(addr: string): void {
    let list = this.failures.get(addr);
    if (!list) {
      if (this.failures.size >= this.maxAddresses) {
        const first = this.failures.keys().next().value;
        if (first !== undefined) this.failures.delete(first);
      }
      list = [];
      this.failures.set(addr, list);
    }
    list.push(this.now());
    if (list.length > this.maxFailures * 2) list.splice(0, list.length - this.maxFailures * 2);
  }

  reset(addr: string): void {
    this.failures.delete(addr);
  }

  get trackedAddresses(): number {
    return this.failures.size;
  }
}
