/**
 * The real `bun src/cli.ts ai` process: config refusal, token auth, chat over the simulator, and the
 * SIGTERM drain — in-flight requests may finish within AI_DRAIN_MS; those still running at the
 * deadline end with a retryable `shutting_down` error (an SSE `error` event, never a cut), the
 * upstream request is cancelled, and the process exits 0 well inside the supervisor's grace.
 * Usage rows are written in batches: a stop, graceful or forced, still writes every queued row.
 */
import { Database } from "bun:sqlite";
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { PIPBOT_HEADERS } from "../../src/shared/headers.ts";
import { dbPath } from "../../src/shared/store/index.ts";
import { childEnv, freePort, type RunningProcess, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { parseSse, postChat, readUntil } from "./harness.ts";

let sim: UpstreamSim;
const procs: RunningProcess[] = [];
const dirs: { cleanup(): void }[] = [];
const TOKEN = "proc-token-0123456789abcdef";
const KEY = "sk-proc-secret-abcdef123456";
// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON bodies
type Json = Record<string, any>;

beforeAll(async () => {
  sim = await startUpstreamSim();
});
afterAll(() => sim.stop());
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
  for (const d of dirs.splice(0)) d.cleanup();
  sim.reset();
});

function env(extra: Record<string, string>) {
  const dir = tempDir("pipbot-ai-proc-");
  dirs.push(dir);
  return childEnv({
    DATA_DIR: dir.path,
    ANTHROPIC_API_KEY: KEY,
    OPENAI_API_KEY: KEY,
    GEMINI_API_KEY: KEY,
    ANTHROPIC_BASE_URL: sim.url,
    OPENAI_BASE_URL: `${sim.url}/v1`,
    GOOGLE_GEMINI_BASE_URL: sim.url,
    AI_DEFAULT_MODEL: "anthropic/sim@tokens=3",
    PIPBOT_SIMULATOR: "1",
    ...extra,
  });
}

test("refuses to start on a non-loopback bind without AI_SERVER_TOKEN (exit 78, names the variable)", async () => {
  const p = spawnPipbot(["ai"], env({ AI_HOST: "0.0.0.0", AI_PORT: String(await freePort()) }));
  procs.push(p);
  expect(await p.exited).toBe(78);
  expect(p.output()).toContain("AI_SERVER_TOKEN");
});

test("non-loopback bind with a token: bearer required everywhere but /healthz; chat works; SIGTERM exits 0", async () => {
  const port = await freePort();
  const p = spawnPipbot(["ai"], env({ AI_HOST: "0.0.0.0", AI_PORT: String(port), AI_SERVER_TOKEN: TOKEN }));
  procs.push(p);
  const url = `http://127.0.0.1:${port}`;
  const health = await waitFor(
    async () => {
      const r = await fetch(`${url}/healthz`);
      return r.ok ? ((await r.json()) as Json) : null;
    },
    { timeoutMs: 15_000, what: "AI server /healthz" },
  );
  expect(health).toMatchObject({
    ok: true,
    mode: "direct",
    simulator: true,
    defaultModel: "anthropic/sim@tokens=3",
  });

  const identity = p.records().find((r) => r.event === "identity");
  expect(identity?.proc).toBe("ai");
  expect(identity?.simulator).toBe(true);

  const body = { stream: true, messages: [{ role: "user", content: "over the process" }] };
  expect((await postChat(url, body)).status).toBe(401);
  expect((await postChat(url, body, { authorization: "Bearer wrong-token-000000000" })).status).toBe(401);
  expect((await fetch(`${url}/usage`)).status).toBe(401);

  const res = await postChat(url, body, { authorization: `Bearer ${TOKEN}` });
  expect(res.status).toBe(200);
  const { events } = parseSse(await res.text());
  expect(events.at(-1)?.event).toBe("done");
  expect((events.at(-1)!.data as Json).message.content[0].text).toBe("You said: over the process. w1 w2");

  const usage = (await (
    await fetch(`${url}/usage`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).json()) as Json;
  expect(usage.totals[0]).toMatchObject({ provider: "anthropic", requests: 1, outputTokens: 3 });

  await waitFor(() => p.records().some((r) => r.msg === "chat request"), { what: "the wide log line" });
  p.kill("SIGTERM");
  expect(await p.exited).toBe(0);
  const out = p.output();
  expect(out).not.toContain(TOKEN);
  expect(out).not.toContain(KEY);
});

async function startAi(drainMs: number): Promise<{ p: RunningProcess; url: string; dataDir: string }> {
  const port = await freePort();
  const e = env({ AI_PORT: String(port), AI_DRAIN_MS: String(drainMs) });
  const p = spawnPipbot(["ai"], e);
  procs.push(p);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs: 15_000, what: "/healthz" });
  return { p, url, dataDir: e.DATA_DIR! };
}

/** The request ids of the usage rows in the process's database, read after it exited. */
function usageIds(dataDir: string): string[] {
  const db = new Database(dbPath(dataDir), { readonly: true });
  try {
    return (db.query("SELECT request_id FROM usage").all() as { request_id: string }[])
      .map((r) => r.request_id)
      .sort();
  } finally {
    db.close();
  }
}

/** N plain json requests at once; their request ids, sorted. */
async function completeRequests(url: string, n: number): Promise<string[]> {
  const ids = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const res = await postChat(url, { messages: [{ role: "user", content: `row ${i}` }] });
      expect(res.status).toBe(200);
      await res.json();
      return res.headers.get(PIPBOT_HEADERS.requestId) ?? "";
    }),
  );
  expect(new Set(ids).size).toBe(n);
  return ids.sort();
}

test("N requests then SIGTERM at once: after exit, the database has all N usage rows", async () => {
  const { p, url, dataDir } = await startAi(7_000);
  const ids = await completeRequests(url, 20);
  p.kill("SIGTERM");
  expect(await p.exited).toBe(0);
  expect(usageIds(dataDir)).toEqual(ids);
  expect(p.records().some((r) => String(r.msg).startsWith("could not record usage"))).toBe(false);
});

test("a forced stop (a second signal while a request is in flight) still writes the queued usage rows", async () => {
  const { p, url, dataDir } = await startAi(20_000);
  const slow = postChat(url, {
    model: "anthropic/sim@latency=20000",
    messages: [{ role: "user", content: "slow" }],
  })
    .then((r) => r.status)
    .catch(() => "cut");
  await waitFor(() => sim.requests.length === 1, { what: "the slow upstream request" });
  const ids = await completeRequests(url, 20);
  // Two different signals, so they cannot merge into one: the first starts the drain (the slow
  // request keeps it waiting), the second forces the exit (process.exit in the force handler).
  p.kill("SIGTERM");
  p.kill("SIGINT");
  expect(await p.exited).toBe(1);
  expect(await slow).toBe("cut");
  expect(usageIds(dataDir)).toEqual(ids);
});

test("usage rows the database cannot take yet (another process holds the write lock) are logged, kept and written later", async () => {
  const { p, url, dataDir } = await startAi(7_000);
  const blocker = new Database(dbPath(dataDir));
  blocker.exec("BEGIN IMMEDIATE");
  let ids: string[];
  try {
    ids = await completeRequests(url, 3);
    // The server's flush waits its busy timeout (5 s) for the lock, then logs and keeps the rows.
    const failed = await waitFor(
      () =>
        p
          .records()
          .find((r) => r.msg === "could not record usage in the store yet: the rows are kept and retried"),
      { timeoutMs: 20_000, what: "the failed usage write's log line" },
    );
    expect(failed).toMatchObject({
      level: "error",
      kind: "retrying",
      code: "SQLITE_BUSY",
      rows: 3,
      pending: 3,
    });
  } finally {
    blocker.exec("COMMIT");
    blocker.close();
  }
  await waitFor(() => p.records().some((r) => r.msg === "usage rows written after failed attempts"), {
    timeoutMs: 20_000,
    what: "the retried usage write",
  });
  expect(usageIds(dataDir)).toEqual(ids);
  p.kill("SIGTERM");
  expect(await p.exited).toBe(0);
  expect(p.records().some((r) => r.msg === "could not record usage in the store: rows lost")).toBe(false);
}, 60_000);

test("a stream still running at the AI_DRAIN_MS deadline ends with a retryable shutting_down error event", async () => {
  const { p, url } = await startAi(200);
  // 400 chunks at 20/s: 20 s, far longer than the drain.
  const res = await postChat(url, {
    model: "openai/sim@tokens=400,rate=20",
    stream: true,
    messages: [{ role: "user", content: "long" }],
  });
  let text = await readUntil(res, (t) => t.includes("event: delta"));
  p.kill("SIGTERM");
  text += await readUntil(res, () => false);
  const { events } = parseSse(text);
  expect(events.filter((e) => e.event === "done")).toHaveLength(0);
  const last = events.at(-1);
  expect(last?.event).toBe("error");
  expect(last?.data as Json).toMatchObject({ code: "shutting_down", retryable: true });
  expect(await p.exited).toBe(0);
  // The upstream request was cancelled, not left running.
  const up = await waitFor(() => sim.requests.find((r) => r.aborted), { what: "upstream abort" });
  expect(up.chunksSent).toBeLessThan(400);
  const line = p.records().find((r) => r.msg === "chat request failed");
  expect(line).toMatchObject({ errorCode: "shutting_down", status: "error", provider: "openai" });
  expect(
    p.records().some((r) => r.msg === "drain deadline: ending in-flight requests with shutting_down"),
  ).toBe(true);
  expect(p.output()).not.toContain(KEY);
});

test("a non-stream request still running at the deadline gets 503 shutting_down in the one error shape", async () => {
  const { p, url } = await startAi(200);
  const pending = postChat(url, {
    model: "anthropic/sim@latency=20000",
    messages: [{ role: "user", content: "slow" }],
  });
  await waitFor(() => sim.requests.length === 1, { what: "the upstream request" });
  p.kill("SIGTERM");
  const res = await pending;
  expect(res.status).toBe(503);
  expect(((await res.json()) as Json).error).toMatchObject({ code: "shutting_down", retryable: true });
  expect(await p.exited).toBe(0);
});

test("a stream that finishes within AI_DRAIN_MS completes normally after SIGTERM", async () => {
  const { p, url } = await startAi(7_000);
  // 20 chunks at 20/s: about one second, inside the drain.
  const res = await postChat(url, {
    model: "anthropic/sim@tokens=20,rate=20",
    stream: true,
    messages: [{ role: "user", content: "short" }],
  });
  let text = await readUntil(res, (t) => t.includes("event: delta"));
  p.kill("SIGTERM");
  await p.waitForOutput(/stopping: draining in-flight requests/);
  text += await readUntil(res, () => false);
  const { events } = parseSse(text);
  expect(events.at(-1)?.event).toBe("done");
  expect(events.filter((e) => e.event === "delta")).toHaveLength(20);
  expect(await p.exited).toBe(0);
  expect(p.records().some((r) => String(r.msg).startsWith("drain deadline"))).toBe(false);
});
