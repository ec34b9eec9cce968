/**
 * The generated token of a loopback gateway started without CLAWDBOT_GATEWAY_TOKEN, with real
 * child processes and captured output: saved in DATA_DIR/gateway-token (0600) and reused after a
 * restart; its value never appears in a JSON log line (alone or under the supervisor); on a
 * terminal (a real pseudo-terminal via `script`) the ready-to-use URL carries it in the fragment;
 * `pipbot chat` finds the file without being told the token.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { readTokenFile, tokenFilePath } from "../../src/shared/gateway-token.ts";
import {
  CLI,
  childEnv,
  freePort,
  type RunningProcess,
  spawnCaptured,
  spawnPipbot,
  tempDir,
  waitFor,
} from "../helpers/index.ts";
import { connected, httpOk, spawnGateway, startFakeAi } from "./helpers.ts";

let ai: Awaited<ReturnType<typeof startFakeAi>>;
const procs: RunningProcess[] = [];
const dirs: ReturnType<typeof tempDir>[] = [];

beforeAll(async () => {
  ai = await startFakeAi();
});
afterAll(async () => {
  await ai.stop();
});
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.kill("SIGTERM");
    await p.exited;
  }
  for (const d of dirs.splice(0)) d.cleanup();
});

async function gatewayEnv() {
  const dir = tempDir("pipbot-gw-token-");
  dirs.push(dir);
  const port = await freePort();
  const env = childEnv({
    GATEWAY_PORT: String(port),
    DATA_DIR: dir.path,
    AI_URL: ai.url,
    SYNC_STATUS_PORT: String(await freePort()),
    AI_PORT: String(await freePort()),
  });
  return { dir: dir.path, port, env };
}

async function startGateway(env: Record<string, string>, port: number) {
  const p = await spawnGateway(env, port);
  procs.push(p);
  return p;
}

describe("generated gateway token", () => {
  test("saved 0600 in DATA_DIR, reused after a restart, never in the JSON logs", async () => {
    const { dir, port, env } = await gatewayEnv();
    const gw1 = await startGateway(env, port);
    const token = readTokenFile(dir) as string;
    expect(token).toMatch(/^[0-9a-f]{48}$/);
    expect(statSync(tokenFilePath(dir)).mode & 0o777).toBe(0o600);
    // Clients authenticate with it.
    const c = await connected(`ws://127.0.0.1:${port}`, { auth: { token } });
    c.close();
    await waitFor(() => gw1.records().some((r) => r.event === "gateway_token_hint"), { what: "hint line" });
    gw1.kill("SIGTERM");
    expect(await gw1.exited).toBe(0);
    const out1 = gw1.output();
    // Every line is JSON (stdout was not a terminal); the token is in none of them.
    const lines1 = out1.split("\n").filter(Boolean);
    expect(lines1.every((l) => l.startsWith("{"))).toBe(true);
    expect(out1).not.toContain(token);
    expect(gw1.records().find((r) => r.event === "gateway_token")).toMatchObject({
      tokenFile: tokenFilePath(dir),
      created: true,
    });
    expect(gw1.records().find((r) => r.event === "gateway_token_hint")).toMatchObject({
      tokenFile: tokenFilePath(dir),
      url: `http://127.0.0.1:${port}`,
    });

    // Second start: same token, same file, and the old token still works.
    const gw2 = await startGateway(env, port);
    expect(readTokenFile(dir)).toBe(token);
    const c2 = await connected(`ws://127.0.0.1:${port}`, { auth: { token } });
    c2.close();
    await waitFor(() => gw2.records().some((r) => r.event === "gateway_token"), { what: "token line" });
    expect(gw2.records().find((r) => r.event === "gateway_token")).toMatchObject({ created: false });
    expect(gw2.output()).not.toContain(token);

    // `pipbot chat` finds the token in DATA_DIR without being told.
    const chat = spawnPipbot(
      ["chat", "--url", `ws://127.0.0.1:${port}`, "hello via the token file"],
      childEnv({ DATA_DIR: dir }),
    );
    expect(await chat.exited).toBe(0);
    expect(chat.output()).toStartWith("You said: hello via the token file.");
  });

  test("under the supervisor (`pipbot start --only gateway`) no output line carries the token", async () => {
    const { dir, port, env } = await gatewayEnv();
    const sup = spawnPipbot(["start", "--only", "gateway"], env);
    procs.push(sup);
    await waitFor(() => httpOk(`http://127.0.0.1:${port}/healthz`), {
      timeoutMs: 20_000,
      what: "gateway up",
    });
    await waitFor(() => sup.records().some((r) => r.event === "gateway_token_hint"), {
      timeoutMs: 10_000,
      what: "the hint line through the supervisor",
    });
    const token = readTokenFile(dir) as string;
    expect(token).toBeTruthy();
    sup.kill("SIGTERM");
    expect(await sup.exited).toBe(0);
    const out = sup.output();
    expect(out).not.toContain(token);
    for (const l of out.split("\n").filter(Boolean)) expect(() => JSON.parse(l)).not.toThrow();
    expect(sup.records().find((r) => r.event === "gateway_token_hint")).toMatchObject({
      proc: "gateway",
      tokenFile: tokenFilePath(dir),
    });
  });

  test("on a terminal the URL with the token in the fragment is printed once; logs stay redacted", async () => {
    const { dir, port, env } = await gatewayEnv();
    const { PIPBOT_SUPERVISED: _s, ...ttyEnv } = env;
    // `script` runs the gateway on a real pseudo-terminal (stdin, stdout and stderr are its tty).
    const p = spawnCaptured(["script", "-qefc", `exec bun ${CLI} gateway`, "/dev/null"], ttyEnv);
    procs.push(p);
    await waitFor(() => httpOk(`http://127.0.0.1:${port}/healthz`), {
      timeoutMs: 20_000,
      what: "gateway up",
    });
    const token = await waitFor(() => readTokenFile(dir), { what: "token file" });
    await p.waitForOutput(/Chat: {2}pipbot chat/);
    const out = p.output();
    expect(out).toContain(`Open:  http://127.0.0.1:${port}/#token=${token}`);
    expect(out).not.toContain("?token=");
    // Exactly one place shows it: the URL line (the pretty log lines are redacted).
    expect(out.split(token).length - 1).toBe(1);
    expect(out).toContain(`Chat:  pipbot chat --url ws://127.0.0.1:${port}`);
  });

  test("a non-loopback bind without a token refuses to start and says why (exit 78)", async () => {
    const { dir, env } = await gatewayEnv();
    const p = spawnPipbot(["gateway"], { ...env, GATEWAY_HOST: "0.0.0.0" });
    expect(await p.exited).toBe(78);
    expect(p.output()).toContain("CLAWDBOT_GATEWAY_TOKEN");
    expect(p.output()).toContain("loopback");
    expect(readTokenFile(dir)).toBeUndefined();
  });
});
