/** The real `bun src/cli.ts ai` process: config refusal, token auth, chat over the simulator, SIGTERM. */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { childEnv, freePort, type RunningProcess, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { parseSse, postChat } from "./harness.ts";

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
