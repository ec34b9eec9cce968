/**
 * The separate deployment, end to end with real processes and the REAL configs: the AI server as
 * its own "app" with fly.toml's [env] (AI_HOST=::, a non-loopback bind, so AI_SERVER_TOKEN is
 * required) and the user's VM with deploy/fly-separate-vm.toml's command
 * (`pipbot start --only gateway,sync`) and [env], AI_URL pointing at the AI app, the same token.
 * Only ports, DATA_DIR, the upstream (the simulator) and the secrets are set by the test. A chat
 * over the gateway reaches the AI server and the upstream; calls without the token are
 * rejected; a token-less public bind refuses to start.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { childEnv, freePort, type RunningProcess, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { HAVE_V6, spawnAiApp, httpStatus as status, VM, VM_ARGS } from "./lib/separate-apps.ts";

const AI_TOKEN = "separate-ai-token-0123456789abcdef";
const GW_TOKEN = "separate-gateway-token-0123";
const dirs = [tempDir("pipbot-separate-ai-"), tempDir("pipbot-separate-vm-")];
let sim: UpstreamSim;
let ai: RunningProcess;
let vm: RunningProcess;
let aiUrl = "";
let gwPort = 0;

describe("separate mode: AI server app + `pipbot start --only gateway,sync`", () => {
  beforeAll(async () => {
    sim = await startUpstreamSim();
    ({ proc: ai, url: aiUrl } = await spawnAiApp({
      token: AI_TOKEN,
      dataDir: dirs[0]!.path,
      env: {
        ANTHROPIC_BASE_URL: sim.url,
        ANTHROPIC_API_KEY: "sim",
        AI_DEFAULT_MODEL: "anthropic/sim@tokens=6",
        PIPBOT_SIMULATOR: "1",
      },
    }));

    gwPort = await freePort();
    expect(VM_ARGS).toEqual(["start", "--only", "gateway,sync"]);
    vm = spawnPipbot(
      VM_ARGS,
      childEnv({
        ...VM.env,
        DATA_DIR: dirs[1]!.path,
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

  test.skipIf(!HAVE_V6)(
    "the AI server binds the wildcard (reachable on ::1 too) and demands the token there as well",
    async () => {
      const v6 = aiUrl.replace("127.0.0.1", "[::1]");
      expect(await status(`${v6}/healthz`)).toBe(200);
      const body = JSON.stringify({ messages: [{ role: "user", content: "v6" }] });
      const headers = { "content-type": "application/json" };
      expect(await status(`${v6}/chat`, { method: "POST", body, headers })).toBe(401);
    },
  );

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
