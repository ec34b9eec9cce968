/** Bad input gets a clear error in the one error shape — never a 500 — and the server stays up. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { directUpstream, postChat, SIM_KEY, startTestAiServer, type TestAiServer } from "./harness.ts";

let sim: UpstreamSim;
let s: TestAiServer;
// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON bodies
type Json = Record<string, any>;

beforeAll(async () => {
  sim = await startUpstreamSim();
  // google deliberately not configured
  s = await startTestAiServer(
    sim,
    { maxBodyBytes: 2000, maxRetries: 0 },
    directUpstream(sim, { anthropic: SIM_KEY, openai: SIM_KEY }),
  );
});
afterAll(async () => {
  await s.stop();
  await sim.stop();
});

const cases: { name: string; body: unknown; status: number; code: string; contains: string }[] = [
  {
    name: "invalid JSON",
    body: "{not json",
    status: 400,
    code: "invalid_request",
    contains: "not valid JSON",
  },
  { name: "empty body", body: "", status: 400, code: "invalid_request", contains: "empty" },
  {
    name: "missing messages",
    body: { model: "anthropic/sim" },
    status: 400,
    code: "invalid_request",
    contains: "messages",
  },
  {
    name: "empty messages",
    body: { messages: [] },
    status: 400,
    code: "invalid_request",
    contains: "at least one message",
  },
  {
    name: "wrong role",
    body: { messages: [{ role: "system", content: "x" }] },
    status: 400,
    code: "invalid_request",
    contains: "messages.0.role",
  },
  {
    name: "wrong content type",
    body: { messages: [{ role: "user", content: 42 }] },
    status: 400,
    code: "invalid_request",
    contains: "messages.0.content",
  },
  {
    name: "unknown field",
    body: { messages: [{ role: "user", content: "x" }], bogus: 1 },
    status: 400,
    code: "invalid_request",
    contains: "bogus",
  },
  {
    name: "unknown provider",
    body: { provider: "mistral", model: "x", messages: [{ role: "user", content: "x" }] },
    status: 400,
    code: "invalid_request",
    contains: "provider",
  },
  {
    name: "provider and model prefix disagree",
    body: { provider: "openai", model: "anthropic/sim", messages: [{ role: "user", content: "x" }] },
    status: 400,
    code: "invalid_request",
    contains: "does not match",
  },
  {
    name: "provider not configured",
    body: { model: "google/sim", messages: [{ role: "user", content: "x" }] },
    status: 400,
    code: "provider_not_configured",
    contains: "GEMINI_API_KEY",
  },
  {
    name: "unknown model (upstream 404)",
    body: { model: "anthropic/unknown-model", messages: [{ role: "user", content: "x" }] },
    status: 404,
    code: "not_found",
    contains: "404",
  },
  {
    name: "body over AI_MAX_BODY_BYTES",
    body: { messages: [{ role: "user", content: "x".repeat(5000) }] },
    status: 413,
    code: "payload_too_large",
    contains: "AI_MAX_BODY_BYTES",
  },
  {
    name: "bad temperature",
    body: { temperature: 9, messages: [{ role: "user", content: "x" }] },
    status: 400,
    code: "invalid_request",
    contains: "temperature",
  },
];

for (const c of cases)
  test(`${c.name} → ${c.status} ${c.code}`, async () => {
    const res = await postChat(s.url, c.body);
    expect(res.status).toBe(c.status);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = (await res.json()) as Json;
    expect(body.error.code).toBe(c.code);
    expect(body.error.message).toContain(c.contains);
    expect(typeof body.error.retryable).toBe("boolean");
  });

test("the same bad inputs in stream mode answer with JSON errors before any stream starts", async () => {
  const res = await postChat(s.url, {
    stream: true,
    model: "google/sim",
    messages: [{ role: "user", content: "x" }],
  });
  expect(res.status).toBe(400);
  expect(((await res.json()) as Json).error.code).toBe("provider_not_configured");
});

test("unknown route → 404 in the one shape; bad ?since → 400; the server still serves", async () => {
  const nf = await fetch(`${s.url}/nope`);
  expect(nf.status).toBe(404);
  expect(((await nf.json()) as Json).error.code).toBe("not_found");
  for (const bad of ["yesterday", "99999999999999999999", "2026-13-45"]) {
    const since = await fetch(`${s.url}/usage?since=${bad}`);
    expect(since.status).toBe(400);
    expect(((await since.json()) as Json).error).toMatchObject({ code: "invalid_request" });
  }
  const ok = await postChat(s.url, {
    model: "openai/sim@tokens=1",
    messages: [{ role: "user", content: "still up" }],
  });
  expect(ok.status).toBe(200);
});

test("GET /healthz reports mode, providers, default model and simulator, no secrets", async () => {
  const res = await fetch(`${s.url}/healthz`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as Json;
  expect(body).toEqual({
    ok: true,
    mode: "direct",
    providers: { anthropic: true, openai: true, google: false },
    defaultModel: "anthropic/sim",
    simulator: true,
  });
});
