/**
 * The separate deployment, end to end with real processes: the AI server as its own "app"
 * (`pipbot ai` with AI_SERVER_TOKEN, as fly.toml runs it) and the user's VM running only the
 * gateway and the sync worker under the supervisor (`pipbot start --only gateway,sync` with
 * AI_URL + the same token). A chat over the gateway reaches the AI server and the upstream
 * simulator; calls without the token are rejected; a token-less public bind refuses to start.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import {
  childEnv,
  freePort,
  ROOT,
  type RunningProcess,
  spawnPipbot,
  tempDir,
  waitFor,
} from "../helpers/index.ts";

const NEEDED = ["src/ai-server/main.ts", "src/gateway/main.ts", "src/sync/main.ts", "src/supervisor/main.ts"];
const READY = NEEDED.every((f) => existsSync(join(ROOT, f)));

const AI_TOKEN = "separate-ai-token-0123456789abcdef";
const GW_TOKEN = "separate-gateway-token-0123";
const dirs = [tempDir("pipbot-separate-ai-"), tempDir("pipbot-separate-vm-")];
let sim: UpstreamSim;
let ai: RunningProcess;
let vm: RunningProcess;
let aiUrl = "";
let gwPort = 0;

async function status(url: string, init?: RequestInit): Promise<number> {
  try {
    return (await fetch(url, { ...init, redirect: "manual" })).status;
  } catch {
    return 0;
  }
}

describe.skipIf(!READY)("separate mode: AI server app + `pipbot start --only gateway,sync`", () => {
  beforeAll(async () => {
    sim = await startUpstreamSim();
    const aiPort = await freePort();
    aiUrl = `http://127.0.0.1:${aiPort}`;
    ai = spawnPipbot(
      ["ai"],
      childEnv({
        PIPBOT_MODE: "separate",
        AI_HOST: "127.0.0.1",
        AI_PORT: String(aiPort),
        AI_SERVER_TOKEN: AI_TOKEN,
        DATA_DIR: dirs[0]!.path,
        ANTHROPIC_BASE_URL: sim.url,
        ANTHROPIC_API_KEY: "sim",
        AI_DEFAULT_MODEL: "anthropic/sim@tokens=6",
        PIPBOT_SIMULATOR: "1",
      }),
    );
    await waitFor(async () => (await status(`${aiUrl}/healthz`)) === 200, {
      timeoutMs: 20_000,
      what: "the AI server's /healthz",
    });

    gwPort = await freePort();
    vm = spawnPipbot(
      ["start", "--only", "gateway,sync"],
      childEnv({
        PIPBOT_MODE: "separate",
        DATA_DIR: dirs[1]!.path,
        GATEWAY_HOST: "127.0.0.1",
        GATEWAY_PORT: String(gwPort),
        SYNC_STATUS_PORT: String(await freePort()),
        CLAWDBOT_GATEWAY_TOKEN: GW_TOKEN,
        AI_URL: aiUrl,
        AI_SERVER_TOKEN: AI_TOKEN,
      }),
    );
    await waitFor(async () => (await status(`http://127.0.0.1:${gwPort}/readyz`)) === 200, {
      timeoutMs: 30_000,
      what: "the gateway's /readyz (store + AI server usable)",
    });
  }, 60_000);

  afterAll(async () => {
    vm?.kill("SIGTERM");
    ai?.kill("SIGTERM");
    await Promise.all([vm?.exited, ai?.exited]);
    await sim?.stop();
    for (const d of dirs) d.cleanup();
  });

  test("the AI server rejects calls without the token and accepts them with it", async () => {
    const body = JSON.stringify({ stream: true, messages: [{ role: "user", content: "direct" }] });
    const headers = { "content-type": "application/json" };
    expect(await status(`${aiUrl}/chat`, { method: "POST", body, headers })).toBe(401);
    const wrong = { ...headers, authorization: "Bearer not-the-token-000000" };
    expect(await status(`${aiUrl}/chat`, { method: "POST", body, headers: wrong })).toBe(401);
    const res = await fetch(`${aiUrl}/chat`, {
      method: "POST",
      body,
      headers: { ...headers, authorization: `Bearer ${AI_TOKEN}` },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("You said: direct.");
    expect(await status(`${aiUrl}/healthz`)).toBe(200);
  });

  test("the user's VM runs only the gateway and the sync worker", async () => {
    await waitFor(() => vm.output().includes("pipbot supervisor starting"), {
      what: "the supervisor identity line",
    });
    const identity = vm.records().find((r) => r.event === "identity" && r.proc === "supervisor");
    expect(identity?.processes).toEqual(expect.arrayContaining(["gateway", "sync"]));
    expect(identity?.processes).not.toContain("ai");
    expect(identity?.mode).toBe("separate");
  });

  test("a chat over the gateway reaches the AI server (with the token) and the upstream", async () => {
    const before = sim.requests.length;
    const chat = spawnPipbot(
      ["chat", "--url", `ws://127.0.0.1:${gwPort}`, "--token", GW_TOKEN, "hello from the separate VM"],
      childEnv(),
    );
    const code = await chat.exited;
    expect(chat.output()).toContain("You said: hello from the separate VM.");
    expect(code).toBe(0);
    expect(sim.requests.length).toBeGreaterThan(before);
    expect(vm.output()).not.toContain(AI_TOKEN);
    expect(ai.output()).not.toContain(AI_TOKEN);
  }, 30_000);

  test("without AI_SERVER_TOKEN the AI server refuses a public bind (as on Fly: AI_HOST=::)", async () => {
    const env = childEnv({
      AI_HOST: "::",
      AI_PORT: String(await freePort()),
      DATA_DIR: dirs[0]!.path,
      PIPBOT_MODE: "separate",
    });
    const p = spawnPipbot(["ai"], env);
    expect(await p.exited).toBe(78);
    expect(p.output()).toContain("AI_SERVER_TOKEN");
  });
});
