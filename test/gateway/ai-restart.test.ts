/**
 * Issue 11 finding 3: an AI server restart must not fail the chats sent meanwhile. The REAL AI
 * server (`pipbot ai` on the upstream simulator) is SIGKILLed and started again on the same port
 * while chats are sent: the runs wait for it (bounded by GATEWAY_AI_WAIT_MS) and then end final;
 * `/readyz` is 503 meanwhile and says how many runs wait; `health` reports it too. Past the bound
 * a run ends `error` with errorKind `timeout` and a message written for users — never the
 * runtime's own text ("Unable to connect. Is the computer able to access the url?").
 *
 * Before the fix every such run ended `error` at once with Bun's text.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { childEnv, freePort, type RunningProcess, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { connected, httpOk, type RawClient, startTestGateway, type TestGateway } from "./helpers.ts";

const AI_SERVER_TOKEN = "restart-ai-server-token-0123456789";
let sim: UpstreamSim;
let dir: ReturnType<typeof tempDir>;
let aiPort: number;
const procs: RunningProcess[] = [];
const clients: RawClient[] = [];
let t: TestGateway | undefined;

beforeAll(async () => {
  sim = await startUpstreamSim();
  dir = tempDir("pipbot-ai-restart-");
  aiPort = await freePort();
});

afterAll(async () => {
  await sim.stop();
  dir.cleanup();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await t?.stop();
  t = undefined;
  for (const p of procs.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
});

async function startAi(): Promise<RunningProcess> {
  const p = spawnPipbot(
    ["ai"],
    childEnv({
      AI_PORT: String(aiPort),
      DATA_DIR: dir.path,
      ANTHROPIC_BASE_URL: sim.url,
      ANTHROPIC_API_KEY: "sim",
      AI_DEFAULT_MODEL: "anthropic/sim",
      PIPBOT_SIMULATOR: "1",
      AI_SERVER_TOKEN,
    }),
  );
  procs.push(p);
  await waitFor(() => httpOk(`http://127.0.0.1:${aiPort}/healthz`), {
    timeoutMs: 20_000,
    what: "AI server /healthz",
  }).catch((e: Error) => {
    throw new Error(`${e.message}\n${p.output()}`);
  });
  return p;
}

async function readyz(): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${t?.httpUrl}/readyz`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

test("chats sent while the AI server restarts wait for it and end final; /readyz and health report the wait", async () => {
  const ai1 = await startAi();
  t = await startTestGateway({
    aiUrl: `http://127.0.0.1:${aiPort}`,
    settings: { AI_SERVER_TOKEN, AI_DEFAULT_MODEL: "anthropic/sim@tokens=5", GATEWAY_AI_WAIT_MS: 60_000 },
  });
  const c = await connected(t.wsUrl);
  clients.push(c);
  await c.chatSend("warm", "before", "k-before");
  expect((await c.terminal("k-before")).state).toBe("final");
  expect((await readyz()).status).toBe(200);

  ai1.kill("SIGKILL");
  await ai1.exited;
  const keys = ["k1", "k2", "k3", "k4", "k5"];
  for (const k of keys) {
    const ack = await c.chatSend(`s-${k}`, `during the restart ${k}`, k);
    expect(ack.payload).toEqual({ runId: k, status: "started" });
  }
  // All five wait (none failed), and the gateway says so.
  const down = await waitFor(
    async () => {
      const r = await readyz();
      return (r.body.ai as { waitingRuns?: number } | undefined)?.waitingRuns === keys.length ? r : undefined;
    },
    { what: "/readyz to report the five waiting runs" },
  );
  expect(down.status).toBe(503);
  expect(down.body).toMatchObject({ ok: false, ai: { reachable: false, waitMs: 60_000 } });
  expect(String(down.body.reason)).not.toMatch(/computer|Unable to connect/);
  const hl = (await c.call("health")).payload as { ai: Record<string, unknown> };
  expect(hl.ai).toMatchObject({ ok: false, reachable: false, waitingRuns: keys.length });
  for (const k of keys) expect(c.chat(k).filter((p) => p.state !== "delta")).toEqual([]);

  await startAi();
  for (const k of keys) {
    const end = await c.terminal(k, 30_000);
    expect(end.state).toBe("final");
    expect(JSON.stringify(end.message)).toContain(`You said: during the restart ${k}.`);
  }
  expect((await readyz()).status).toBe(200);
  const turn = t.logs.records().find((r) => r.msg === "chat turn" && r.runId === "k1");
  expect(turn).toMatchObject({ outcome: "final" });
  expect(turn?.aiRetries).toBeGreaterThan(0);
}, 60_000);

test("past GATEWAY_AI_WAIT_MS a run ends error (timeout, retryable) with a message for users, visible in history", async () => {
  const deadPort = await freePort();
  const waitMs = 1500;
  t = await startTestGateway({
    aiUrl: `http://127.0.0.1:${deadPort}`,
    settings: { GATEWAY_AI_WAIT_MS: waitMs },
  });
  const c = await connected(t.wsUrl);
  clients.push(c);
  await c.chatSend("main", "anyone there?", "k-dead");
  const end = await c.terminal("k-dead", 20_000);
  expect(end).toMatchObject({ state: "error", errorKind: "timeout" });
  expect(String(end.errorMessage)).toStartWith("The assistant is temporarily unavailable");
  expect(String(end.errorMessage)).not.toMatch(/computer|Unable to connect|ECONNREFUSED/);
  // It waited the whole bound before giving up (a lower bound the code guarantees).
  const turn = t.logs.records().find((r) => r.msg === "chat turn" && r.runId === "k-dead");
  expect(Number(turn?.durationMs)).toBeGreaterThanOrEqual(waitMs);
  const h = (await c.call("chat.history", { sessionKey: "main" })).payload as {
    messages: { role: string; stopReason?: string; content: { text: string }[] }[];
  };
  expect(h.messages.at(-1)?.stopReason).toBe("error");
  expect(h.messages.at(-1)?.content.at(-1)?.text).toStartWith(
    "⚠ Reply failed: The assistant is temporarily unavailable",
  );
  // The same key again retries the turn (it failed): accepted, and it waits again.
  expect((await c.chatSend("main", "anyone there?", "k-dead")).payload).toEqual({
    runId: "k-dead",
    status: "started",
  });
}, 30_000);
