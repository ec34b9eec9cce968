/**
 * Credentials and configuration: README's Ollama line (OPENAI_BASE_URL without a key, a bare model
 * id going to the only configured provider, listed by GET /v1/models and the gateway's models.list)
 * on the real `pipbot ai` process, unknown prefixes
 * refused with the configured providers listed, an Anthropic bearer token, Vertex settings from a
 * service-account JSON, AI_UPSTREAM deciding the mode, and secrets never printed.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { upstreamSettings } from "../../src/ai-server/main.ts";
import { createProviderRegistry } from "../../src/ai-server/providers/index.ts";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { aiEnv, loadEnv, secretValues } from "../../src/shared/config/index.ts";
import { connected, startTestGateway } from "../gateway/helpers.ts";
import { childEnv, freePort, type RunningProcess, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { postChat } from "./harness.ts";

let sim: UpstreamSim;
const procs: RunningProcess[] = [];
const dirs: { cleanup(): void }[] = [];
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

/** README's Ollama command: its variables exactly as written. */
async function readmeOllamaVars(): Promise<Record<string, string>> {
  const readme = await Bun.file(new URL("../../README.md", import.meta.url)).text();
  const line = readme.split("\n").find((l) => /OPENAI_BASE_URL=\S+ .*\.\/pipbot up/.test(l));
  if (!line) throw new Error("README has no OPENAI_BASE_URL=… ./pipbot up line");
  return Object.fromEntries(
    [...line.matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1] as string, m[2] as string]),
  );
}

test("README's Ollama line works as written: no key, bare model → the only provider, no Authorization sent", async () => {
  const vars = await readmeOllamaVars();
  expect(Object.keys(vars).sort()).toEqual(["AI_DEFAULT_MODEL", "OPENAI_BASE_URL"]);
  // The simulator's keyless OpenAI-compatible route stands in for Ollama at the README's URL.
  const base = vars.OPENAI_BASE_URL?.replace(/^http:\/\/127\.0\.0\.1:11434/, `${sim.url}/ollama`) ?? "";
  const dir = tempDir("pipbot-ai-ollama-");
  dirs.push(dir);
  const port = await freePort();
  const p = spawnPipbot(
    ["ai"],
    childEnv({ ...vars, OPENAI_BASE_URL: base, DATA_DIR: dir.path, AI_PORT: String(port) }),
  );
  procs.push(p);
  const url = `http://127.0.0.1:${port}`;
  const health = await waitFor(
    async () => {
      const r = await fetch(`${url}/healthz`).catch(() => null);
      return r?.ok ? ((await r.json()) as Record<string, unknown>) : null;
    },
    { timeoutMs: 15_000, what: "AI server /healthz" },
  );
  expect(health.providers).toEqual({ anthropic: false, openai: true, google: false });
  // The bare default is listed under the provider it resolves to (first = the default).
  const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
  expect(models.data.map((m) => m.id)).toEqual([`openai/${vars.AI_DEFAULT_MODEL}`]);
  // …and a chat app's model picker (the gateway's models.list) shows it as the default.
  const gw = await startTestGateway({ aiUrl: url });
  try {
    const c = await connected(gw.wsUrl);
    const r = await c.call("models.list", { view: "configured" });
    c.close();
    expect((r.payload as { models: unknown[] }).models).toEqual([
      expect.objectContaining({ id: vars.AI_DEFAULT_MODEL, provider: "openai", tags: ["default"] }),
    ]);
  } finally {
    await gw.stop();
  }
  const res = await postChat(url, { messages: [{ role: "user", content: "hi llama" }] });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { model: string }).model).toBe(`openai/${vars.AI_DEFAULT_MODEL}`);
  const r = sim.requests[0]!;
  expect(r.path).toBe("/ollama/v1/chat/completions");
  expect((r.body as { model: string }).model).toBe(vars.AI_DEFAULT_MODEL ?? "(missing)");
  expect(r.headers.authorization).toBeUndefined();

  const bad = await postChat(url, { model: "nosuch/x", messages: [{ role: "user", content: "x" }] });
  expect(bad.status).toBe(400);
  const msg = ((await bad.json()) as { error: { message: string } }).error.message;
  expect(msg).toContain('unknown provider prefix "nosuch/"');
  expect(msg).toContain("configured providers (openai/)");
  expect(sim.requests).toHaveLength(1);
});

test("a default model that cannot be used: `pipbot ai` refuses to start (exit 78), one message naming AI_DEFAULT_MODEL and the fix", async () => {
  for (const [model, says] of [
    ["nosuch/x", 'has an unknown provider prefix "nosuch/"'],
    ["openai/gpt-4.1", "uses openai, which is not configured"],
  ] as const) {
    const dir = tempDir("pipbot-ai-badmodel-");
    dirs.push(dir);
    const p = spawnPipbot(
      ["ai"],
      childEnv({
        ANTHROPIC_API_KEY: "sk-ant-secret-0123456789",
        ANTHROPIC_BASE_URL: sim.url,
        AI_DEFAULT_MODEL: model,
        DATA_DIR: dir.path,
        AI_PORT: String(await freePort()),
      }),
    );
    procs.push(p);
    expect(await p.exited).toBe(78);
    const out = p.output();
    expect(out).toContain(`AI_DEFAULT_MODEL="${model}": ${says}`);
    expect(out).toContain("Fix: ");
    expect(out).toContain("anthropic/");
    expect(out.match(/invalid configuration/g)).toHaveLength(1);
    expect(out).not.toContain("    at ");
    expect(out).not.toContain("sk-ant-secret-0123456789");
  }
});

test("no provider at all: `pipbot ai` starts (health answers) with one warning naming what to set", async () => {
  const dir = tempDir("pipbot-ai-noprov-");
  dirs.push(dir);
  const port = await freePort();
  const p = spawnPipbot(["ai"], childEnv({ DATA_DIR: dir.path, AI_PORT: String(port) }));
  procs.push(p);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok, {
    timeoutMs: 15_000,
    what: "AI server /healthz",
  });
  const warn = p.records().filter((r) => r.level === "warn" || r.level === 40);
  expect(warn.map((r) => r.msg)).toEqual([expect.stringContaining("no AI provider is configured")]);
});

test("ANTHROPIC_AUTH_TOKEN (alias CLAUDE_ACCESS_TOKEN) is sent as a bearer, never as x-api-key", async () => {
  const env = loadEnv(aiEnv, { CLAUDE_ACCESS_TOKEN: "oauth-bearer-0123456789", ANTHROPIC_BASE_URL: sim.url });
  if (!env.ok) throw new Error(JSON.stringify(env.problems));
  const registry = createProviderRegistry(upstreamSettings(env.config));
  expect(registry.configured.anthropic).toBe(true);
  const events = await registry.get("anthropic").openStream({
    model: "sim@tokens=1",
    messages: [{ role: "user", content: [{ type: "text", text: "x" }] }],
    headers: {},
    signal: new AbortController().signal,
  });
  for await (const _ of events) {
    /* drain */
  }
  expect(sim.requests[0]?.headers.authorization).toBe("Bearer oauth-bearer-0123456789");
  expect(sim.requests[0]?.headers["x-api-key"]).toBeUndefined();
});

test("GOOGLE_APPLICATION_CREDENTIALS_JSON configures Google on Vertex AI; its private key is a secret", () => {
  const sa = JSON.stringify({
    type: "service_account",
    project_id: "proj-42",
    private_key: "-----BEGIN PRIVATE KEY-----\nMIIEsecret\n-----END PRIVATE KEY-----\n",
    client_email: "bot@proj-42.iam.gserviceaccount.com",
  });
  const env = loadEnv(aiEnv, {
    GOOGLE_APPLICATION_CREDENTIALS_JSON: sa,
    GOOGLE_CLOUD_LOCATION: "us-central1",
    // The default model must be one of a configured provider (else the AI server refuses to start).
    AI_DEFAULT_MODEL: "google/gemini-2.5-flash",
  });
  if (!env.ok) throw new Error(JSON.stringify(env.problems));
  const s = upstreamSettings(env.config);
  expect(s.vertex).toMatchObject({ project: "proj-42", location: "us-central1" });
  expect(createProviderRegistry(s).configured).toEqual({ anthropic: false, openai: false, google: true });
  const secrets = secretValues({ GOOGLE_APPLICATION_CREDENTIALS_JSON: sa });
  expect(secrets).toContain("-----BEGIN PRIVATE KEY-----\nMIIEsecret\n-----END PRIVATE KEY-----\n");
  expect(secrets).toContain("-----BEGIN PRIVATE KEY-----\\nMIIEsecret\\n-----END PRIVATE KEY-----\\n");
});

test("AI_UPSTREAM decides the mode; sync's CONVEX_URL never does once it is set", () => {
  const convex = {
    CONVEX_URL: "https://a-b-1.convex.cloud",
    PIPBOT_SERVICE_TOKEN: "svc-0123456789",
    CLERK_USER_ID: "user_1",
  };
  const mode = (extra: Record<string, string>) => {
    const env = loadEnv(aiEnv, { ANTHROPIC_API_KEY: "sk-ant-0123", ...convex, ...extra });
    if (!env.ok) throw new Error(JSON.stringify(env.problems));
    return createProviderRegistry(upstreamSettings(env.config)).mode;
  };
  expect(mode({})).toBe("proxy"); // unset: as before
  expect(mode({ AI_UPSTREAM: "direct" })).toBe("direct");
  expect(mode({ AI_UPSTREAM: "proxy" })).toBe("proxy");
  const missing = loadEnv(aiEnv, { AI_UPSTREAM: "proxy", ANTHROPIC_API_KEY: "sk-ant-0123" });
  expect(missing.ok).toBe(false);
  const direct = loadEnv(aiEnv, {
    AI_UPSTREAM: "direct",
    CONVEX_URL: convex.CONVEX_URL,
    ANTHROPIC_API_KEY: "sk-ant-0123",
  });
  expect(direct.ok).toBe(true);
});
