/**
 * A killed stream: the real AI server (`bun src/cli.ts ai`, proxy mode, as a child process) is
 * SIGKILLed in the middle of a streamed answer coming through the Convex usage proxy. Its usage row
 * must not be lost: it was written `started` before the provider was called and is closed as `cut`
 * with the tokens seen so far once the connection drops.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { internal } from "../../convex/_generated/api";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { childEnv, freePort, type RunningProcess, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import {
  type Loopback,
  providerEnv,
  SERVICE_TOKEN,
  startUserLoopback,
  type TestConvex,
  USER,
  type UserLoopback,
} from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

let sim: UpstreamSim;
let restoreEnv: () => void;
let convex: UserLoopback;
let t: TestConvex;
let lb: Loopback;
let ai: RunningProcess | undefined;
const data = tempDir("pipbot-convex-killed-");

beforeAll(async () => {
  sim = await startUpstreamSim();
  restoreEnv = providerEnv(sim.url);
  convex = await startUserLoopback();
  ({ t, lb } = convex);
});
afterAll(async () => {
  ai?.kill("SIGKILL");
  await ai?.exited;
  await convex.stop();
  restoreEnv();
  await sim.stop();
  data.cleanup();
});

test("SIGKILL of the AI server mid-stream: the usage row is closed as 'cut', not lost", async () => {
  const port = await freePort();
  ai = spawnPipbot(
    ["ai"],
    childEnv({
      AI_PORT: String(port),
      DATA_DIR: data.path,
      CONVEX_SITE_URL: lb.url,
      CLERK_USER_ID: USER,
      PIPBOT_SERVICE_TOKEN: SERVICE_TOKEN,
    }),
  );
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok, {
    timeoutMs: 20_000,
    what: "the AI server's /healthz",
  });
  const res = await fetch(`http://127.0.0.1:${port}/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "openai/sim@tokens=400,rate=50",
      stream: true,
      messages: [{ role: "user", content: "a long answer please" }],
    }),
  });
  expect(res.status).toBe(200);
  const requestId = res.headers.get("x-pipbot-request-id")!;
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let seen = "";
  while (!seen.includes("event: delta")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`ended before any text: ${seen}`);
    seen += dec.decode(value, { stream: true });
  }
  expect((await t.query(internal.usage.byRequest, { requestId }))?.status).toBe("started");
  ai.kill("SIGKILL");
  expect(await ai.exited).not.toBe(0);
  await reader.cancel().catch(() => {});
  const closed = await waitFor(
    async () => {
      const r = await t.query(internal.usage.byRequest, { requestId });
      return r && r.status !== "started" ? r : null;
    },
    { what: "the row closed after the AI server died" },
  );
  expect(closed).toMatchObject({ status: "cut", userId: USER, provider: "openai", attempts: 1 });
  expect(closed.outputTokens).toBe(0); // OpenAI reports usage only at the end: none was seen
  expect(closed.error).toContain("went away");
});
