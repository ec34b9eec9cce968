/**
 * proxy-v1 (convex/proxy.ts, usage.ts, budgets.ts) under convex-test, with the upstream simulator
 * as the providers: the operator's key goes upstream (never the service token), bodies pass through
 * unchanged, usage rows are written before and finished after, refusals use each provider's shape.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { internal } from "../../convex/_generated/api";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { waitFor } from "../helpers/index.ts";
import {
  captureLogs,
  newConvex,
  OPERATOR_KEY,
  providerEnv,
  provisionUser,
  SERVICE_TOKEN,
  type TestConvex,
  USER,
} from "./setup.ts";

let sim: UpstreamSim;
let restoreEnv: () => void;
let t: TestConvex;
let logs: ReturnType<typeof captureLogs>;
// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON bodies
type Json = Record<string, any>;

beforeAll(async () => {
  sim = await startUpstreamSim();
  restoreEnv = providerEnv(sim.url);
});
afterAll(async () => {
  restoreEnv();
  await sim.stop();
});
beforeEach(async () => {
  t = newConvex();
  logs = captureLogs();
  await provisionUser(t);
});
afterEach(() => {
  logs.restore();
  sim.reset();
});

type P = "anthropic" | "openai" | "google";
const PATHS: Record<P, (model: string, stream: boolean) => string> = {
  anthropic: () => "/llm/anthropic/v1/messages",
  openai: () => "/llm/openai/v1/chat/completions",
  google: (m, s) =>
    `/llm/google/v1beta/models/${m}:${s ? "streamGenerateContent?alt=sse" : "generateContent"}`,
};
function body(p: P, model: string, stream: boolean, text = "hi there, a prompt of some ten words or so") {
  if (p === "anthropic")
    return { model, max_tokens: 100, stream, messages: [{ role: "user", content: text }] };
  if (p === "openai")
    return {
      model,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
      messages: [{ role: "user", content: text }],
    };
  return { contents: [{ role: "user", parts: [{ text }] }] };
}
function call(
  p: P,
  model: string,
  opts: { stream?: boolean; requestId?: string; token?: string; user?: string } = {},
) {
  const token = opts.token ?? SERVICE_TOKEN;
  const stream = opts.stream ?? false;
  return t.fetch(PATHS[p](model, stream), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(p === "google" ? { "x-goog-api-key": token } : { authorization: `Bearer ${token}` }),
      ...(p === "anthropic" ? { "anthropic-version": "2023-06-01" } : {}),
      "x-pipbot-service-token": token,
      "x-pipbot-user-id": opts.user ?? USER,
      "x-pipbot-request-id": opts.requestId ?? crypto.randomUUID(),
      "x-pipbot-machine-id": "m-1",
      "x-pipbot-conversation-id": "sess-1",
    },
    body: JSON.stringify(body(p, model, stream)),
  });
}
const row = (requestId: string) => t.query(internal.usage.byRequest, { requestId });

describe("forwarding and usage", () => {
  for (const p of ["anthropic", "openai", "google"] as const)
    for (const stream of [false, true])
      test(`${p} ${stream ? "stream" : "json"}: passed through unchanged, one finalized row with the tokens`, async () => {
        const requestId = crypto.randomUUID();
        const res = await call(p, "sim@tokens=4,cache_read=2,thoughts=3", { stream, requestId });
        if (res.status !== 200) throw new Error(await res.text());
        expect(res.headers.get("x-pipbot-request-id")).toBe(requestId);
        const text = await res.text();
        expect(text).toContain("You said: hi there");
        if (stream) expect(res.headers.get("content-type")).toContain("text/event-stream");
        const r = (await row(requestId))!;
        expect(r).toMatchObject({
          status: "finalized",
          userId: USER,
          provider: p,
          attempts: 1,
          machineId: "m-1",
          conversationId: "sess-1",
          httpStatus: 200,
        });
        expect(r.outputTokens).toBeGreaterThan(0);
        expect(r.inputTokens).toBeGreaterThan(0);
        expect(r.costUsd).toBeGreaterThan(0);
        if (p !== "anthropic") expect(r.cacheReadTokens).toBe(2);
        if (p === "google") expect(r.reasoningTokens).toBe(3);
        // upstream saw the operator's key, not the VM's token, and none of our headers
        const h = sim.requests.at(-1)!.headers;
        const credential =
          p === "google" ? h["x-goog-api-key"] : p === "openai" ? h.authorization : h["x-api-key"];
        expect(credential).toContain(OPERATOR_KEY);
        expect(JSON.stringify(h)).not.toContain(SERVICE_TOKEN);
        expect(Object.keys(h).some((k) => k.startsWith("x-pipbot-"))).toBe(false);
      });

  test("the request body reaches the provider unchanged: tools, images, thinking", async () => {
    const sent = {
      model: "sim@tokens=2",
      max_tokens: 1024,
      stream: true,
      thinking: { type: "enabled", budget_tokens: 512 },
      tools: [
        { name: "get_weather", input_schema: { type: "object", properties: { city: { type: "string" } } } },
      ],
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "weather where this was taken?" },
            { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
          ],
        },
      ],
    };
    const res = await t.fetch("/llm/anthropic/v1/messages", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${SERVICE_TOKEN}`,
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "interleaved-thinking-2025-05-14",
        "x-pipbot-service-token": SERVICE_TOKEN,
        "x-pipbot-user-id": USER,
        "x-pipbot-request-id": crypto.randomUUID(),
      },
      body: JSON.stringify(sent),
    });
    await res.text();
    const upstream = sim.requests.at(-1)!;
    expect(upstream.body).toEqual(sent);
    expect(upstream.headers["anthropic-beta"]).toBe("interleaved-thinking-2025-05-14");
  });

  test("a client gone before the provider answered: the row is 'cut', not 'failed'", async () => {
    const requestId = crypto.randomUUID();
    const controller = new AbortController();
    const pending = t.fetch("/llm/openai/v1/chat/completions", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${SERVICE_TOKEN}`,
        "x-pipbot-service-token": SERVICE_TOKEN,
        "x-pipbot-user-id": USER,
        "x-pipbot-request-id": requestId,
      },
      body: JSON.stringify(body("openai", "sim@latency=5000", false)),
      signal: controller.signal,
    });
    await waitFor(() => sim.requests.length === 1, { what: "the request upstream" });
    controller.abort();
    await pending.then((r) => r.text()).catch(() => "");
    const r = await waitFor(
      async () => {
        const x = await row(requestId);
        return x && x.status !== "started" ? x : null;
      },
      { what: "the row closed" },
    );
    expect(r).toMatchObject({ status: "cut", error: expect.stringContaining("client went away") });
  });

  test("retries of one request id share one row: attempts counted, tokens of the successful attempt once", async () => {
    const requestId = crypto.randomUUID();
    const key = crypto.randomUUID();
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const res = await call("anthropic", `sim@tokens=2,status=529,fail_times=2,key=${key}`, { requestId });
      statuses.push(res.status);
      await res.text();
    }
    expect(statuses).toEqual([529, 529, 200]);
    const rows = await t.run((ctx) => ctx.db.query("usage").collect());
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      requestId,
      status: "finalized",
      attempts: 3,
      finishedAttempts: [1, 2, 3],
    });
    const once = rows[0]!.outputTokens;
    expect(once).toBeGreaterThan(0);
    // the report adds it once
    const day = rows[0]!.day;
    const report = await t.query(internal.usage.report, { fromDay: day, toDay: day });
    expect(report).toHaveLength(1);
    expect(report[0]).toMatchObject({ userId: USER, provider: "anthropic", requests: 1, outputTokens: once });
  });

  test("an upstream cut mid-stream leaves a 'cut' row with what was seen; an error status a 'failed' row", async () => {
    const cut = crypto.randomUUID();
    const res = await call("anthropic", "sim@tokens=6,fault=cut_after:2", { stream: true, requestId: cut });
    await res.text().catch(() => "");
    expect((await row(cut))!.status).toBe("cut");
    expect((await row(cut))!.inputTokens).toBeGreaterThan(0); // message_start carried the input
    const failed = crypto.randomUUID();
    const r2 = await call("openai", "sim@status=500", { requestId: failed });
    expect(r2.status).toBe(500);
    expect((await r2.json()) as Json).toHaveProperty("error");
    expect(await row(failed)).toMatchObject({ status: "failed", httpStatus: 500, outputTokens: 0 });
  });
});

test("a row whose proxy action was killed (never finished) is closed as 'cut' by the cron after 31 minutes", async () => {
  const requestId = crypto.randomUUID();
  await t.mutation(internal.usage.start, { requestId, userId: USER, provider: "openai" });
  const fresh = crypto.randomUUID();
  await t.mutation(internal.usage.start, { requestId: fresh, userId: USER, provider: "openai" });
  await t.run(async (ctx) => {
    const r = await ctx.db
      .query("usage")
      .withIndex("by_requestId", (q) => q.eq("requestId", requestId))
      .unique();
    await ctx.db.patch(r!._id, { startedAt: Date.now() - 32 * 60_000 });
  });
  expect(await t.mutation(internal.usage.closeStale, {})).toBe(1);
  expect(await row(requestId)).toMatchObject({
    status: "cut",
    error: expect.stringContaining("never closed"),
  });
  expect((await row(fresh))!.status).toBe("started");
});

describe("refusals in each provider's own shape", () => {
  test("bad, missing or revoked tokens and a wrong user → 401; nothing goes upstream; no secret logged", async () => {
    for (const p of ["anthropic", "openai", "google"] as const) {
      const res = await call(p, "sim", { token: "svc-wrong-token-000000000" });
      expect(res.status).toBe(401);
      const b = (await res.json()) as Json;
      if (p === "anthropic") expect(b.error.type).toBe("authentication_error");
      if (p === "openai") expect(b.error.code).toBe("invalid_api_key");
      if (p === "google") expect(b.error.status).toBe("UNAUTHENTICATED");
      expect((await call(p, "sim", { user: "user_someone_else" })).status).toBe(401);
    }
    expect(sim.requests).toHaveLength(0);
    await t.mutation(internal.credentials.revoke, { userId: USER });
    expect((await call("openai", "sim")).status).toBe(401);
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
    const first = await call("openai", "gpt-4o@tokens=50");
    expect(first.status).toBe(200);
    await first.text();
    const status = await t.query(internal.budgets.status, { userId: USER });
    const spent = status.find((s) => s.period === "day")!.spentUsd;
    expect(spent).toBeGreaterThan(0);
    await t.mutation(internal.budgets.set, { userId: USER, period: "day", limitUsd: spent });
    for (const p of ["anthropic", "openai", "google"] as const) {
      const res = await call(p, "sim");
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
    const res = await call("anthropic", "sim");
    expect(res.status).toBe(402);
    expect(((await res.json()) as Json).error.type).toBe("billing_error");
    expect((await t.query(internal.budgets.status, { userId: USER })).every((s) => s.exceeded)).toBe(true);
    await t.mutation(internal.budgets.set, { userId: USER, period: "month", limitUsd: null });
    await t.mutation(internal.budgets.set, { userId: USER, period: "day", limitUsd: null });
    const ok = await call("google", "sim");
    expect(ok.status).toBe(200);
    await ok.text();
    expect(sim.requests).toHaveLength(2);
  });

  test("a provider without an operator key → 503 naming the variable", async () => {
    const before = process.env.GEMINI_API_KEY;
    delete process.env.GEMINI_API_KEY;
    try {
      const res = await call("google", "sim");
      expect(res.status).toBe(503);
      expect(((await res.json()) as Json).error.message).toContain("GEMINI_API_KEY");
    } finally {
      process.env.GEMINI_API_KEY = before;
    }
  });
});
