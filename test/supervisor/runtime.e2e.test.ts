/**
 * The real runtime: `pipbot start` on the real Procfile (AI server, sync worker, gateway) and
 * `pipbot demo`, as real child processes on free ports with a temp DATA_DIR, the AI server talking
 * to the upstream simulator.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { childEnv, freePort, type RunningProcess, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { isAlive, killSupervisorTree } from "./helpers.ts";

let cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function own(p: RunningProcess) {
  cleanups.push(() => killSupervisorTree(p));
}

async function ports() {
  return {
    AI_PORT: String(await freePort()),
    SYNC_STATUS_PORT: String(await freePort()),
    GATEWAY_PORT: String(await freePort()),
  };
}

describe("real runtime", () => {
  test("pipbot start runs the real Procfile: ready in order, healthy, SIGTERM stops all in reverse, exit 0", async () => {
    const sim: UpstreamSim = await startUpstreamSim();
    const data = tempDir("pipbot-rt-");
    cleanups.push(async () => {
      await sim.stop();
      data.cleanup();
    });
    const p = ports();
    const env = childEnv({
      ...(await p),
      DATA_DIR: data.path,
      ANTHROPIC_BASE_URL: sim.url,
      ANTHROPIC_API_KEY: "sim",
      AI_DEFAULT_MODEL: "anthropic/sim",
      PIPBOT_SIMULATOR: "1",
      AI_URL: `http://127.0.0.1:${(await p).AI_PORT}`,
      CLAWDBOT_GATEWAY_TOKEN: "test-gateway-token-123",
      SUPERVISOR_READY_TIMEOUT_MS: "30000",
    });
    const sup = spawnPipbot(["start"], env);
    own(sup);
    await waitFor(() => sup.records().find((r) => r.event === "all_ready"), {
      timeoutMs: 45_000,
      what: "all_ready",
    });
    expect(
      sup
        .records()
        .filter((r) => r.event === "child_ready")
        .map((r) => r.child),
    ).toEqual(["ai", "sync", "gateway"]);
    const health = await fetch(`http://127.0.0.1:${env.GATEWAY_PORT}/healthz`);
    expect(health.status).toBe(200);
    // Children log JSON (PIPBOT_SUPERVISED=1), each tagged with its process name.
    for (const name of ["ai", "sync", "gateway"])
      expect(sup.records().some((r) => r.proc === name)).toBe(true);
    expect(sup.output()).not.toContain("test-gateway-token-123");
    const pids = sup
      .records()
      .filter((r) => r.event === "child_start")
      .map((r) => Number(r.pid));
    sup.kill("SIGTERM");
    expect(await sup.exited).toBe(0);
    const exits = sup.records().filter((r) => r.event === "child_exit");
    expect(exits.map((r) => r.child)).toEqual(["gateway", "sync", "ai"]);
    for (const r of exits) expect(r).toMatchObject({ action: "stopped", code: 0 });
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  }, 60_000);

  test("pipbot demo: simulator banner, gateway ready, a chat gets the simulator's reply, SIGTERM exits 0", async () => {
    const data = tempDir("pipbot-demo-");
    cleanups.push(() => data.cleanup());
    // A Control UI bundle for the gateway to serve at /control/ (any index.html will do here).
    writeFileSync(join(data.path, "index.html"), "<html><body>control ui</body></html>");
    const env = childEnv({
      ...(await ports()),
      DATA_DIR: join(data.path, "demo"),
      SUPERVISOR_READY_TIMEOUT_MS: "30000",
      GATEWAY_CONTROL_UI_DIR: data.path,
    });
    const demo = spawnPipbot(["demo"], env);
    own(demo);
    const dataDir = join(data.path, "demo");
    const m = await demo.waitForOutput(/^ {4}(DATA_DIR=\S+) \.\/pipbot chat --url (\S+)$/m, 45_000);
    expect(m[1]).toBe(`DATA_DIR=${dataDir}`);
    expect(m[2]).toBe(`ws://127.0.0.1:${env.GATEWAY_PORT}`);
    // The token is kept in DATA_DIR/gateway-token (mode 0600), where `pipbot chat` finds it.
    const tokenFile = join(dataDir, "gateway-token");
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, "utf8").trim();
    expect(token.length).toBeGreaterThanOrEqual(32);
    const out = demo.output();
    expect(out).toContain("SIMULATOR");
    expect(out).toContain("anthropic/simulator");
    expect(out).toContain(`token: ${tokenFile}`);
    // The browser line names the page and where the token is, never the token itself.
    expect(out).toContain(
      `or in a browser: http://127.0.0.1:${env.GATEWAY_PORT}/ (paste the token from ${tokenFile})`,
    );
    // The Control UI the gateway serves, with the same token hint.
    expect(out).toContain(
      `or the OpenClaw Control UI: http://127.0.0.1:${env.GATEWAY_PORT}/control/ (paste the token from ${tokenFile})`,
    );
    expect((await fetch(`http://127.0.0.1:${env.GATEWAY_PORT}/control/`)).status).toBe(200);
    expect(out).not.toContain("?token=");
    // The token is printed nowhere: not in the log lines, not in the human text.
    expect(out).not.toContain(token);
    const health = await fetch(`http://127.0.0.1:${env.GATEWAY_PORT}/healthz`);
    expect(health.status).toBe(200);

    // Exactly what the demo says to run (the chat client reads the token file itself).
    const chat = spawnPipbot(
      ["chat", "--url", `ws://127.0.0.1:${env.GATEWAY_PORT}`, "hello demo"],
      childEnv({ DATA_DIR: dataDir }),
    );
    own(chat);
    expect(await chat.exited).toBe(0);
    expect(chat.output()).toContain("You said: hello demo.");

    // The simulator is a supervised child: ready first, stopped last, labelled in the identity line.
    const ready = demo.records().filter((r) => r.event === "child_ready");
    expect(ready.map((r) => r.child)).toEqual(["upstream-sim", "ai", "sync", "gateway"]);
    expect(demo.records().find((r) => r.event === "identity")?.processes).toEqual([
      "upstream-sim",
      "ai",
      "sync",
      "gateway",
    ]);
    expect(demo.records().some((r) => r.proc === "upstream-sim")).toBe(true);

    demo.kill("SIGTERM");
    expect(await demo.exited).toBe(0);
    const exits = demo.records().filter((r) => r.event === "child_exit");
    expect(exits.map((r) => r.child)).toEqual(["gateway", "sync", "ai", "upstream-sim"]);
    for (const r of exits) expect(r.action).toBe("stopped");
  }, 60_000);

  test("pipbot demo --model nosuch/x: refused first (exit 2), before the banner, any file or any process", async () => {
    const data = tempDir("pipbot-demo-bad-");
    cleanups.push(() => data.cleanup());
    const dataDir = join(data.path, "demo");
    const env = childEnv({ ...(await ports()), DATA_DIR: dataDir });
    const demo = spawnPipbot(["demo", "--model", "nosuch/x"], env);
    own(demo);
    expect(await demo.exited).toBe(2);
    const out = demo.output();
    expect(out).toContain('pipbot demo: --model "nosuch/x" has an unknown provider prefix "nosuch/"');
    expect(out).toContain(
      "Fix: pass --model <provider>/<model> with <provider> one of anthropic, openai, google",
    );
    expect(out).not.toContain("AI_DEFAULT_PROVIDER");
    expect(out).not.toContain("pipbot demo — running");
    expect(demo.records().filter((r) => r.event === "identity" || r.event === "child_start")).toEqual([]);
    expect(existsSync(dataDir)).toBe(false);
  }, 30_000);

  test("pipbot demo --model the simulator would refuse (404 model, bad option): exit 2 naming it, nothing started", async () => {
    const data = tempDir("pipbot-demo-sim-bad-");
    cleanups.push(() => data.cleanup());
    const dataDir = join(data.path, "demo");
    const env = childEnv({ ...(await ports()), DATA_DIR: dataDir });
    for (const [model, why] of [
      ["openai/unknown-x", "names a model the simulator answers as unknown (404"],
      ["openai/sim@tokens=abc", "has simulator options the simulator refuses (400"],
    ]) {
      const demo = spawnPipbot(["demo", "--model", model ?? ""], env);
      own(demo);
      expect(await demo.exited).toBe(2);
      const out = demo.output();
      expect(out).toContain(`pipbot demo: --model ${JSON.stringify(model)} ${why}`);
      expect(out).toContain("The simulator serves any other model id");
      expect(out).not.toContain("pipbot demo — running");
      expect(demo.records().filter((r) => r.event === "identity" || r.event === "child_start")).toEqual([]);
      expect(existsSync(dataDir)).toBe(false);
    }
  }, 30_000);

  test("pipbot demo with its gateway port taken: exit 69 naming the port as pipbot demo, no banner (nothing started)", async () => {
    const data = tempDir("pipbot-demo-busy-");
    const taken = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("other") });
    cleanups.push(() => {
      taken.stop(true);
      data.cleanup();
    });
    const env = childEnv({
      ...(await ports()),
      GATEWAY_PORT: String(taken.port),
      DATA_DIR: join(data.path, "demo"),
    });
    const demo = spawnPipbot(["demo"], env);
    own(demo);
    expect(await demo.exited).toBe(69);
    // Signed with the command the user ran, not `pipbot start`.
    expect(demo.output()).toContain(`pipbot demo: port ${taken.port} (GATEWAY_PORT, the gateway process)`);
    expect(demo.output()).not.toContain("pipbot start");
    expect(demo.output()).not.toContain("pipbot demo — running");
    expect(demo.records().filter((r) => r.event === "child_start")).toEqual([]);
  }, 30_000);

  test("pipbot demo with a GATEWAY_CONTROL_UI_DIR that is no Control UI: exit 78 naming it, nothing started", async () => {
    const data = tempDir("pipbot-demo-ui-");
    cleanups.push(() => data.cleanup());
    const env = childEnv({
      ...(await ports()),
      DATA_DIR: join(data.path, "demo"),
      GATEWAY_CONTROL_UI_DIR: data.path,
    });
    const demo = spawnPipbot(["demo"], env);
    own(demo);
    expect(await demo.exited).toBe(78);
    expect(demo.output()).toContain("pipbot demo: not starting anything");
    expect(demo.output()).toContain(`GATEWAY_CONTROL_UI_DIR="${data.path}": has no index.html`);
    expect(demo.output()).not.toContain("pipbot demo — running");
    expect(demo.records().filter((r) => r.event === "child_start")).toEqual([]);
  }, 30_000);
});
