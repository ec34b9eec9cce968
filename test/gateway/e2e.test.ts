/**
 * Runs against the REAL AI server process (`pipbot ai`) backed by the upstream simulator:
 * streaming order, final stored, abort mid-stream stores the partial and cancels the upstream,
 * an upstream failure mid-stream ends as error, idempotent resend, two clients, and a gateway
 * killed with SIGKILL mid-run whose run is closed as interrupted on the next start.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { openStore } from "../../src/shared/store/index.ts";
import { childEnv, freePort, type RunningProcess, tempDir, waitFor } from "../helpers/index.ts";
import {
  connected,
  type RawClient,
  type SimAiServer,
  spawnGateway,
  startSimAiServer,
  startTestGateway,
  type TestGateway,
  TOKEN,
} from "./helpers.ts";

const AI_SERVER_TOKEN = "e2e-ai-server-token-0123456789";

let simAi: SimAiServer | undefined;
let sim: UpstreamSim;
let aiUrl: string;
let t: TestGateway | undefined;
const clients: RawClient[] = [];
const procs: RunningProcess[] = [];

describe("gateway + real AI server + upstream simulator", () => {
  beforeAll(async () => {
    simAi = await startSimAiServer({ token: AI_SERVER_TOKEN, dirPrefix: "pipbot-e2e-ai-" });
    sim = simAi.sim;
    aiUrl = simAi.url;
  }, 30_000);

  afterAll(async () => {
    await simAi?.stop();
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

  async function gatewayWithModel(model: string) {
    t = await startTestGateway({ aiUrl, settings: { AI_DEFAULT_MODEL: model, AI_SERVER_TOKEN } });
    const c = await connected(t.wsUrl);
    clients.push(c);
    return { t, c };
  }

  test("streams deltas in order, ends with final, stores the reply with model and usage", async () => {
    const { t, c } = await gatewayWithModel("anthropic/sim@tokens=8");
    await c.call("chat.send", {
      sessionKey: "main",
      message: "ping over the real stack",
      idempotencyKey: "e2e-1",
    });
    const fin = await c.terminal("e2e-1");
    expect(fin.state).toBe("final");
    const finText = (fin.message as { content: { text: string }[] }).content[0]?.text ?? "";
    expect(finText).toStartWith("You said: ping over the real stack.");
    const deltas = c.chat("e2e-1").filter((p) => p.state === "delta");
    expect(deltas.map((d) => d.deltaText).join("")).toBe(finText);
    expect(c.chat("e2e-1").map((p) => p.seq)).toEqual(c.chat("e2e-1").map((_, i) => i + 1));
    const run = t.store.getRun("e2e-1");
    expect(run?.state).toBe("final");
    const msgs = t.store.listMessages(run?.sessionId as string);
    expect(msgs.at(-1)?.content[0]?.text).toBe(finText);
    expect(msgs.at(-1)?.usage?.outputTokens).toBeGreaterThan(0);
    // The model name is stored once qualified, never `anthropic/anthropic/…` (issue 11 finding 8):
    // in the message, in chat.history and in the turn's log line.
    expect(msgs.at(-1)?.model).toMatch(/^anthropic\/sim(@|$)/);
    const h = await c.call("chat.history", { sessionKey: "main" });
    const hist = (h.payload as { messages: { model?: string }[] }).messages;
    expect(hist.at(-1)?.model).toBe(msgs.at(-1)?.model as string);
    const turn = t.logs.records().find((r) => r.msg === "chat turn" && r.runId === "e2e-1");
    expect(turn?.model).toBe(msgs.at(-1)?.model as string);
  });

  test("chat.abort mid-stream stores the partial and cancels the upstream request", async () => {
    const { t, c } = await gatewayWithModel("anthropic/sim@tokens=400,rate=40");
    const before = sim.requests.length;
    await c.call("chat.send", { sessionKey: "main", message: "long one", idempotencyKey: "e2e-ab" });
    await waitFor(() => c.chat("e2e-ab").filter((p) => p.state === "delta").length >= 3, { what: "deltas" });
    await c.call("chat.abort", { sessionKey: "main", runId: "e2e-ab" });
    const end = await c.terminal("e2e-ab");
    expect(end.state).toBe("aborted");
    const run = t.store.getRun("e2e-ab");
    expect(run?.state).toBe("aborted");
    expect(run?.partialText).toStartWith("You said: long one.");
    const upstream = sim.requests.slice(before).at(-1);
    await waitFor(() => upstream?.aborted || upstream?.outcome === "aborted", {
      timeoutMs: 5000,
      what: "the simulator to see the request aborted",
    });
    expect(upstream?.chunksSent ?? 0).toBeLessThan(400);
  });

  test("an upstream failure mid-stream ends as error, never final", async () => {
    const { t, c } = await gatewayWithModel("anthropic/sim@tokens=20,fault=error_after:3");
    await c.call("chat.send", { sessionKey: "main", message: "will fail", idempotencyKey: "e2e-err" });
    const end = await c.terminal("e2e-err");
    expect(end.state).toBe("error");
    expect(typeof end.errorMessage).toBe("string");
    expect(["refusal", "timeout", "rate_limit", "context_length", "unknown"]).toContain(
      end.errorKind as string,
    );
    expect(c.chat("e2e-err").some((p) => p.state === "final")).toBe(false);
    expect(t.store.getRun("e2e-err")?.state).toBe("error");
  });

  test("without AI_SERVER_TOKEN the AI server refuses the run: error (never final)", async () => {
    t = await startTestGateway({ aiUrl, settings: { AI_DEFAULT_MODEL: "anthropic/sim" } });
    const c = await connected(t.wsUrl);
    clients.push(c);
    await c.chatSend("main", "no bearer", "e2e-nobearer");
    const end = await c.terminal("e2e-nobearer");
    expect(end.state).toBe("error");
    expect(end.errorMessage as string).toContain(
      "missing or wrong token: send Authorization: Bearer <AI_SERVER_TOKEN>",
    );
    expect(c.chat("e2e-nobearer").some((p) => p.state === "final")).toBe(false);
  });

  test("a cut upstream connection ends as error", async () => {
    const { c } = await gatewayWithModel("anthropic/sim@tokens=20,fault=cut_after:3");
    await c.call("chat.send", { sessionKey: "main", message: "cut", idempotencyKey: "e2e-cut" });
    // The upstream cut waits until this client saw streamed text (the AI server had forwarded it).
    await waitFor(() => c.chat("e2e-cut").some((p) => p.state === "delta"), {
      what: "a delta before the cut",
    });
    sim.releaseCuts(); // this file never resets the sim: the gate stays open, no later test cuts
    expect((await c.terminal("e2e-cut")).state).toBe("error");
  });

  test("idempotent resend and two clients seeing the same events", async () => {
    const { t, c } = await gatewayWithModel("anthropic/sim@tokens=30,rate=100");
    const d = await connected(t.wsUrl, { minProtocol: 3, maxProtocol: 3 });
    clients.push(d);
    const before = sim.requests.length;
    await c.call("chat.send", { sessionKey: "main", message: "once", idempotencyKey: "e2e-idem" });
    const dup = await d.chatSend("main", "once", "e2e-idem");
    expect(dup.payload).toEqual({ runId: "e2e-idem", status: "in_flight" });
    await c.terminal("e2e-idem");
    await d.terminal("e2e-idem");
    const after = await c.chatSend("main", "once", "e2e-idem");
    expect(after.payload).toEqual({ runId: "e2e-idem", status: "ok" });
    expect(sim.requests.length - before).toBe(1);
    const strip = (ps: Record<string, unknown>[]) => ps.map((p) => [p.seq, p.state, p.deltaText]);
    expect(strip(d.chat("e2e-idem"))).toEqual(strip(c.chat("e2e-idem")));
  });

  test("kill -9 the gateway mid-run; the next start closes the run as interrupted in history", async () => {
    const dir = tempDir("pipbot-e2e-gw-");
    try {
      const port = await freePort();
      const env = childEnv({
        GATEWAY_PORT: String(port),
        DATA_DIR: dir.path,
        AI_URL: aiUrl,
        CLAWDBOT_GATEWAY_TOKEN: TOKEN,
        AI_SERVER_TOKEN,
        AI_DEFAULT_MODEL: "anthropic/sim@tokens=400,rate=40",
        SYNC_STATUS_PORT: String(await freePort()),
      });
      const gw1 = await spawnGateway(env, port);
      procs.push(gw1);
      const c = await connected(`ws://127.0.0.1:${port}`);
      clients.push(c);
      await c.call("chat.send", {
        sessionKey: "main",
        message: "crash during me",
        idempotencyKey: "e2e-crash",
      });
      // Wait until a checkpoint of the partial reply is on disk, then SIGKILL.
      const reader = openStore(dir.path, { migrate: false });
      await waitFor(() => (reader.getRun("e2e-crash")?.partialText ?? "").length > 20, {
        timeoutMs: 15_000,
        what: "a partial checkpoint",
      });
      reader.close();
      gw1.kill("SIGKILL");
      await gw1.exited;
      await c.waitClosed();

      const gw2 = await spawnGateway(env, port, "gateway restarted");
      procs.push(gw2);
      const c2 = await connected(`ws://127.0.0.1:${port}`);
      clients.push(c2);
      const h = (await c2.call("chat.history", { sessionKey: "main" })).payload as {
        messages: { role: string; content: { text: string }[]; stopReason?: string }[];
      };
      expect(h.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
      expect(h.messages[1]?.content[0]?.text).toStartWith("You said: crash during me.");
      expect(h.messages[1]?.stopReason).toBe("interrupted");
      const again = await c2.call("chat.send", {
        sessionKey: "main",
        message: "crash during me",
        idempotencyKey: "e2e-crash",
      });
      // The client's retry of the interrupted turn (same key) runs it again, with its stored message.
      expect(again.payload).toEqual({ runId: "e2e-crash", status: "started" });
      await waitFor(() => c2.chat("e2e-crash").some((p) => p.state === "delta"), {
        what: "the retry streams",
      });
      await c2.call("chat.abort", { sessionKey: "main", runId: "e2e-crash" });
      expect((await c2.terminal("e2e-crash")).state).toBe("aborted");
      const after = (await c2.call("chat.history", { sessionKey: "main" })).payload as {
        messages: { role: string; stopReason?: string }[];
      };
      expect(after.messages.map((m) => `${m.role}:${m.stopReason ?? ""}`)).toEqual([
        "user:",
        "assistant:interrupted",
        "assistant:aborted",
      ]);
      expect(gw2.records().some((r) => r.event === "runs_interrupted")).toBe(true);
      gw2.kill("SIGTERM");
      expect(await gw2.exited).toBe(0);
      // A stop is announced: `shutdown` first, then close 1012 so clients reconnect.
      expect(await c2.waitClosed()).toEqual({ code: 1012, reason: "service restart" });
      expect(c2.events("shutdown")[0]?.payload).toEqual({
        reason: "gateway stopping",
        restartExpectedMs: 5000,
      });
    } finally {
      dir.cleanup();
    }
  }, 60_000);
});
