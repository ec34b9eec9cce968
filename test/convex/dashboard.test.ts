/**
 * The operator-facing functions not covered elsewhere: conversations and their paginated
 * messages, the usage report for one user and for everyone, budget validation, per-machine
 * credential revocation, and the admin HTTP API's own answers (auth, unknown routes, bad JSON,
 * nothing to abort or resume, the image endpoint).
 */
import { afterEach, beforeEach, expect, setDefaultTimeout, test } from "bun:test";
import { internal } from "../../convex/_generated/api";
import { hmacSha256Hex } from "../../convex/lib/crypto.ts";
import { type captureLogs, newUserConvex, setEnv, signedPush, type TestConvex, USER } from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

const ADMIN = "admin-token-dashboard-0123456789abcdef";
let t: TestConvex;
let logs: ReturnType<typeof captureLogs>;
let restore: () => void;
beforeEach(async () => {
  restore = setEnv({ ADMIN_TOKEN: ADMIN });
  ({ t, logs } = await newUserConvex());
});
afterEach(() => {
  restore();
  logs.restore();
});

const entry = (i: number, sessionId: string) => ({
  id: `m-${sessionId}-${i}`,
  seq: i + 1,
  sessionKey: `agent:main:${sessionId}`,
  sessionId,
  role: i % 2 ? "assistant" : "user",
  content: [{ type: "text", text: `message ${i}` }],
  createdAt: 1_760_000_000_000 + i,
});

test("a user's conversations, most recent first, and a conversation's messages page by page", async () => {
  const a = Array.from({ length: 25 }, (_, i) => entry(i, "sess-a"));
  const b = [{ ...entry(0, "sess-b"), id: "m-b", seq: 100, createdAt: 1_770_000_000_000 }];
  const res = await signedPush(t, {
    batchId: crypto.randomUUID(),
    userId: USER,
    machineId: null,
    entries: [...a, ...b],
  });
  expect(res.status).toBe(200);
  const convs = await t.query(internal.conversations.list, { userId: USER });
  expect(convs.map((c) => [c.sessionId, c.messageCount])).toEqual([
    ["sess-b", 1],
    ["sess-a", 25],
  ]);
  const ids: string[] = [];
  let cursor: string | null = null;
  for (;;) {
    const page: { page: { id: string }[]; isDone: boolean; continueCursor: string } = await t.query(
      internal.conversations.messages,
      { userId: USER, sessionId: "sess-a", paginationOpts: { numItems: 10, cursor } },
    );
    ids.push(...page.page.map((m) => m.id));
    if (page.isDone) break;
    cursor = page.continueCursor;
  }
  expect(ids).toEqual(a.map((e) => e.id));
  expect(await t.query(internal.conversations.list, { userId: "user_other" })).toEqual([]);
});

test("usage report: per user × day × model, for one user or everyone; budgets are validated", async () => {
  for (const [user, requestId, model] of [
    [USER, crypto.randomUUID(), "gpt-4o"],
    [USER, crypto.randomUUID(), "gpt-4o"],
    ["user_two", crypto.randomUUID(), "gpt-4o-mini"],
  ] as const) {
    await t.mutation(internal.usage.start, { requestId, userId: user, provider: "openai", model });
    await t.mutation(internal.usage.finish, {
      requestId,
      attempt: 1,
      status: "finalized",
      inputTokens: 1000,
      outputTokens: 100,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    });
    // a duplicate finish of the same attempt adds nothing
    await t.mutation(internal.usage.finish, {
      requestId,
      attempt: 1,
      status: "finalized",
      inputTokens: 1000,
      outputTokens: 100,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    });
  }
  const day = new Date().toISOString().slice(0, 10);
  const everyone = await t.query(internal.usage.report, { fromDay: day, toDay: day });
  expect(everyone.map((r) => [r.userId, r.model, r.requests, r.inputTokens])).toEqual([
    [USER, "gpt-4o", 2, 2000],
    ["user_two", "gpt-4o-mini", 1, 1000],
  ]);
  expect(everyone[0]!.costUsd).toBeCloseTo((2 * (1000 * 2.5 + 100 * 10)) / 1e6, 10);
  const mine = await t.query(internal.usage.report, { fromDay: day, toDay: day, userId: USER });
  expect(mine).toHaveLength(1);
  const status = await t.query(internal.budgets.status, { userId: USER });
  expect(status.find((s) => s.period === "month")).toMatchObject({
    requests: 2,
    limitUsd: null,
    exceeded: false,
  });
  await expect(
    t.mutation(internal.budgets.set, { userId: USER, period: "day", limitUsd: -1 }),
  ).rejects.toThrow(/limitUsd/);
});

test("revoking one machine's credentials leaves the user's other machine working", async () => {
  await t.mutation(internal.credentials.register, {
    userId: USER,
    machineId: "m-2",
    serviceToken: "svc-second-machine-0123456789",
    syncSecret: "sync-second-machine-0123456789",
  });
  expect(await t.mutation(internal.credentials.revoke, { userId: USER, machineId: "m-1" })).toBe(1);
  const push = (secret?: string) =>
    signedPush(
      t,
      { batchId: crypto.randomUUID(), userId: USER, machineId: null, entries: [entry(0, "s")] },
      secret ? { secret } : {},
    );
  expect((await push()).status).toBe(401); // m-1's secret
  expect((await push("sync-second-machine-0123456789")).status).toBe(200);
});

test("the HMAC is over the bytes: text and raw-byte parts sign like their concatenation", async () => {
  expect(await hmacSha256Hex("k", ["1700000000.", new Uint8Array([123, 125])])).toBe(
    await hmacSha256Hex("k", ["1700000000.{}"]),
  );
});

test("admin API: token required, unknown routes 404, bad JSON 400, nothing to abort 409, the image endpoint", async () => {
  const call = (method: string, path: string, body?: string, token = ADMIN) =>
    t.fetch(path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body !== undefined ? { body } : {}),
    });
  expect(
    (await call("GET", "/admin/v1/image", undefined, "wrong-token-000000000000000000000000")).status,
  ).toBe(401);
  expect((await call("GET", "/admin/v1/nope")).status).toBe(404);
  expect((await call("POST", "/admin/v1/rollouts", "{not json")).status).toBe(400);
  expect((await call("POST", "/admin/v1/rollouts", "{}")).status).toBe(400);
  expect((await call("POST", "/admin/v1/rollouts/abort", "{}")).status).toBe(409);
  expect((await call("POST", "/admin/v1/rollouts/resume", "{}")).status).toBe(409);
  expect((await call("GET", "/admin/v1/rollouts/status")).status).toBe(404);
  const img = await call("GET", "/admin/v1/image");
  expect(img.status).toBe(200);
  expect(await img.json()).toBeNull();
  const bad = await call(
    "POST",
    "/admin/v1/image",
    JSON.stringify({ imageRef: "registry.fly.io/pipbot-prod:latest" }),
  );
  expect(bad.status).toBe(422);
  expect(((await bad.json()) as { error: string }).error).toContain(":latest");
  expect(logs.lines.join("\n")).not.toContain(ADMIN);
});
