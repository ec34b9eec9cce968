/** Readiness checks per process. */
import { describe, expect, test } from "bun:test";
import { reachableHost, readinessFor } from "./readiness.ts";

describe("readiness", () => {
  const env = {
    AI_HOST: "::",
    AI_PORT: 3001,
    SYNC_STATUS_PORT: 18791,
    GATEWAY_HOST: "0.0.0.0",
    GATEWAY_PORT: 18788,
    SUPERVISOR_READY_UPTIME_MS: 500,
  };
  test("known processes use their health endpoints; wildcard binds are polled on loopback", () => {
    expect(readinessFor("ai", env)).toEqual({
      kind: "http",
      url: "http://127.0.0.1:3001/healthz",
      instance: true,
    });
    expect(readinessFor("sync", env)).toEqual({
      kind: "http",
      url: "http://127.0.0.1:18791/healthz",
      instance: true,
    });
    expect(readinessFor("gateway", env)).toEqual({
      kind: "http",
      url: "http://127.0.0.1:18788/healthz",
      instance: true,
    });
    expect(readinessFor("web", env)).toEqual({ kind: "uptime", ms: 500 });
    expect(reachableHost("::1")).toBe("[::1]");
    expect(reachableHost("10.0.0.2")).toBe("10.0.0.2");
  });
});
