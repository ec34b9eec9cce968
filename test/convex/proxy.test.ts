/**
 * proxy-v1 (convex/proxy.ts, usage.ts, budgets.ts) under convex-test, with the upstream simulator
 * as the providers: the operator's key goes upstream (never the service token), bodies pass through
 * unchanged, usage rows are written before and finished after, refusals use each provider's shape.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { internal } from "../../convex/_generated/api";
import { readThrough, waitFor } from "../helpers/index.ts";
import { body, call } from "./proxy-calls.ts";
import { sim, t, useProxyFixture } from "./proxy-fixture.ts";
import { OPERATOR_KEY, SERVICE_TOKEN, USER } from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON bodies
type Json = Record<string, any>;

useProxyFixture();

const row = (requestId: string) => t.query(internal.usage.byRequest, { requestId });

describe("forwarding and usage", () => {
  for (const p of ["anthropic", "openai", "google"] as const)
    for (const stream of [false, true])
      test(`${p} ${stream ? "stream" : "json"}: passed through unchanged, one finalized row with the tokens`, async () => {
        const requestId = crypto.randomUUID();
        const res = await call(t, p, "sim@tokens=4,cache_read=2,thoughts=3", { stream, requestId });
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

  test("listing models passes through unmetered: no usage row, no budget check", async () => {
    await t.mutation(internal.budgets.set, { userId: USER, period: "month", limitUsd: 0 });
    const res = await t.fetch("/llm/openai/v1/models", {
      headers: {
        authorization: `Bearer ${SERVICE_TOKEN}`,
        "x-pipbot-service-token": SERVICE_TOKEN,
        "x-pipbot-user-id": USER,
        "x-pipbot-request-id": crypto.randomUUID(),
      },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).data).toBeArray();
    expect(await t.run((ctx) => ctx.db.query("usage").collect())).toHaveLength(0);
  });

  test("retries of one request id share one row: attempts counted, tokens of the successful attempt once", async () => {
    const requestId = crypto.randomUUID();
    const key = crypto.randomUUID();
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const res = await call(t, "anthropic", `sim@tokens=2,status=529,fail_times=2,key=${key}`, {
        requestId,
      });
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
    const res = await call(t, "anthropic", "sim@tokens=6,fault=cut_after:2", {
      stream: true,
      requestId: cut,
    });
    // The cut waits until this caller read both text parts through the proxy (so the proxy saw them).
    const cutRead = await readThrough(
      res,
      (text) => text.split('"text_delta"').length - 1 === 2,
      () => sim.releaseCuts(),
    );
    expect(cutRead.failed).toBe(true); // the cut reaches the caller: never a clean end
    expect((await row(cut))!.status).toBe("cut");
    expect((await row(cut))!.inputTokens).toBeGreaterThan(0); // message_start carried the input
    const failed = crypto.randomUUID();
    const r2 = await call(t, "openai", "sim@status=500", { requestId: failed });
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
