/**
 * proxy-v1 refusals under convex-test: bad or revoked tokens, paths not forwarded, budgets (daily
 * 429 + retry-after, monthly 402) and missing operator keys, each in the provider's own error shape,
 * with nothing sent upstream and no secret logged.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { internal } from "../../convex/_generated/api";
import { call } from "./proxy-calls.ts";
import { logs, sim, t, useProxyFixture } from "./proxy-fixture.ts";
import { OPERATOR_KEY, SERVICE_TOKEN, USER } from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON bodies
type Json = Record<string, any>;

useProxyFixture();

describe("refusals in each provider's own shape", () => {
  test("bad, missing or revoked tokens and a wrong user → 401; nothing goes upstream; no secret logged", async () => {
    for (const p of ["anthropic", "openai", "google"] as const) {
      const res = await call(t, p, "sim", { token: "svc-wrong-token-000000000" });
      expect(res.status).toBe(401);
      const b = (await res.json()) as Json;
      if (p === "anthropic") expect(b.error.type).toBe("authentication_error");
      if (p === "openai") expect(b.error.code).toBe("invalid_api_key");
      if (p === "google") expect(b.error.status).toBe("UNAUTHENTICATED");
      expect((await call(t, p, "sim", { user: "user_someone_else" })).status).toBe(401);
    }
    expect(sim.requests).toHaveLength(0);
    await t.mutation(internal.credentials.revoke, { userId: USER });
    expect((await call(t, "openai", "sim")).status).toBe(401);
    expect(await t.run((ctx) => ctx.db.query("usage").collect())).toHaveLength(0);
    const all = logs.lines.join("\n");
    expect(all).not.toContain(SERVICE_TOKEN);
    expect(all).not.toContain(OPERATOR_KEY);
  });

  test("a path the proxy does not forward is 404; a missing request id is 400", async () => {
    const res = await t.fetch("/llm/openai/v1/files", {
      method: "POST",
      headers: {
        authorization: `Bearer ${SERVICE_TOKEN}`,
        "x-pipbot-service-token": SERVICE_TOKEN,
        "x-pipbot-user-id": USER,
      },
    });
    expect(res.status).toBe(404);
    const r = await t.fetch("/llm/openai/v1/chat/completions", {
      method: "POST",
      headers: {
        authorization: `Bearer ${SERVICE_TOKEN}`,
        "x-pipbot-service-token": SERVICE_TOKEN,
        "x-pipbot-user-id": USER,
      },
      body: "{}",
    });
    expect(r.status).toBe(400);
    expect(sim.requests).toHaveLength(0);
  });

  test("budgets: over the daily budget → 429 + retry-after; over the monthly → 402; both say do not retry", async () => {
    const first = await call(t, "openai", "gpt-4o@tokens=50");
    expect(first.status).toBe(200);
    await first.text();
    const status = await t.query(internal.budgets.status, { userId: USER });
    const spent = status.find((s) => s.period === "day")!.spentUsd;
    expect(spent).toBeGreaterThan(0);
    await t.mutation(internal.budgets.set, { userId: USER, period: "day", limitUsd: spent });
    for (const p of ["anthropic", "openai", "google"] as const) {
      const res = await call(t, p, "sim");
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(res.headers.get("x-should-retry")).toBe("false");
      const b = (await res.json()) as Json;
      if (p === "anthropic") expect(b.error.type).toBe("rate_limit_error");
      if (p === "openai") expect(b.error.type).toBe("insufficient_quota");
      if (p === "google") expect(b.error.status).toBe("RESOURCE_EXHAUSTED");
      expect(JSON.stringify(b)).toContain("daily budget");
    }
    await t.mutation(internal.budgets.set, { userId: USER, period: "month", limitUsd: spent / 2 });
    const res = await call(t, "anthropic", "sim");
    expect(res.status).toBe(402);
    expect(((await res.json()) as Json).error.type).toBe("billing_error");
    expect((await t.query(internal.budgets.status, { userId: USER })).every((s) => s.exceeded)).toBe(true);
    await t.mutation(internal.budgets.set, { userId: USER, period: "month", limitUsd: null });
    await t.mutation(internal.budgets.set, { userId: USER, period: "day", limitUsd: null });
    const ok = await call(t, "google", "sim");
    expect(ok.status).toBe(200);
    await ok.text();
    expect(sim.requests).toHaveLength(2);
  });

  test("a provider without an operator key → 503 naming the variable", async () => {
    const before = process.env.GEMINI_API_KEY;
    delete process.env.GEMINI_API_KEY;
    try {
      const res = await call(t, "google", "sim");
      expect(res.status).toBe(503);
      expect(((await res.json()) as Json).error.message).toContain("GEMINI_API_KEY");
    } finally {
      process.env.GEMINI_API_KEY = before;
    }
  });
});
