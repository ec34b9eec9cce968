/** The official `openai` SDK as a client of pipbot's /v1/chat/completions and /v1/models. */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import OpenAI from "openai";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { waitFor } from "../helpers/index.ts";
import { startTestAiServer, type TestAiServer } from "./harness.ts";

let sim: UpstreamSim;
let s: TestAiServer;
let client: OpenAI;
const TOKEN = "compat-token-0123456789";

beforeAll(async () => {
  sim = await startUpstreamSim();
  s = await startTestAiServer(sim, {
    token: TOKEN,
    defaultModel: "anthropic/sim",
    fallbackModels: ["openai/sim"],
    extraModels: ["google/sim", "anthropic/sim"],
  });
  client = new OpenAI({ apiKey: TOKEN, baseURL: `${s.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await s.stop();
  await sim.stop();
});
afterEach(() => sim.reset());

test("non-stream completion through every provider", async () => {
  for (const model of ["anthropic/sim@tokens=3", "openai/sim@tokens=3", "google/sim@tokens=3"]) {
    const r = await client.chat.completions.create({
      model,
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "compat" },
      ],
    });
    expect(r.object).toBe("chat.completion");
    expect(r.choices[0]?.message.content).toBe("You said: compat. w1 w2");
    expect(r.choices[0]?.finish_reason).toBe("stop");
    expect(r.usage?.completion_tokens).toBe(3);
    expect(r.model.startsWith(model.split("/")[0] as string)).toBe(true);
  }
});

test("stream with include_usage: deltas, finish_reason, usage chunk", async () => {
  const chunks: OpenAI.ChatCompletionChunk[] = [];
  for await (const c of await client.chat.completions.create({
    model: "google/sim@tokens=4",
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: "user", content: "streamed" }],
  }))
    chunks.push(c);
  expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("You said: streamed. w1 w2 w3");
  expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
  expect(chunks.some((c) => c.choices[0]?.finish_reason === "stop")).toBe(true);
  const last = chunks.at(-1);
  expect(last?.choices).toEqual([]);
  expect(last?.usage?.completion_tokens).toBe(4);
});

test("stream without include_usage: no usage chunk, usage: null on none", async () => {
  const chunks: OpenAI.ChatCompletionChunk[] = [];
  for await (const c of await client.chat.completions.create({
    model: "anthropic/sim@tokens=2",
    stream: true,
    messages: [{ role: "user", content: "plain" }],
  }))
    chunks.push(c);
  expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("You said: plain. w1");
  expect(chunks.every((c) => c.choices.length === 1 && !c.usage)).toBe(true);
  expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("stop");
});

test("the SDK aborting a stream cancels the upstream request; usage is recorded as aborted", async () => {
  const ac = new AbortController();
  const stream = await client.chat.completions.create(
    { model: "openai/sim@tokens=200,rate=20", stream: true, messages: [{ role: "user", content: "long" }] },
    { signal: ac.signal },
  );
  let received = 0;
  // The openai SDK ends the iteration quietly when its own signal aborts.
  for await (const c of stream)
    if (c.choices[0]?.delta.content) {
      received++;
      ac.abort();
    }
  expect(received).toBeGreaterThanOrEqual(1);
  const up = await waitFor(() => sim.requests.find((r) => r.aborted), { what: "upstream abort" });
  expect(up.chunksSent).toBeLessThan(200);
  const row = await waitFor(
    () => s.usageRows().find((r) => r.status === "aborted" && r.provider === "openai"),
    { what: "aborted usage row" },
  );
  expect(row.estimated).toBe(1); // include_usage never arrived upstream: estimated
});

test("a mid-stream upstream failure makes the SDK throw (never a clean end)", async () => {
  const seen: string[] = [];
  const err = await (async () => {
    for await (const c of await client.chat.completions.create({
      model: "anthropic/sim@fault=cut_after:1",
      stream: true,
      messages: [{ role: "user", content: "x" }],
    })) {
      seen.push(c.choices[0]?.delta.content ?? "");
      // The upstream cut waits until this client saw the part (so the AI server had forwarded it).
      if (seen.join("") === "You said: x.") sim.releaseCuts();
    }
  })().catch((e) => e);
  expect(seen.join("")).toBe("You said: x.");
  expect(err).toBeInstanceOf(OpenAI.APIError);
  expect(String(err.message)).toContain("connection");
});

test("errors in OpenAI's shape: unknown model → NotFoundError; bad body → BadRequestError with param", async () => {
  const nf = await client.chat.completions
    .create({ model: "openai/unknown-model", messages: [{ role: "user", content: "x" }] })
    .catch((e) => e);
  expect(nf).toBeInstanceOf(OpenAI.NotFoundError);
  const bad = await client.chat.completions
    .create({ model: "openai/sim", messages: [{ role: "function" as "user", content: "x" }] })
    .catch((e) => e);
  expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
  expect(bad.param).toBe("messages.0.role");
  expect(bad.type).toBe("invalid_request_error");
});

test("wrong token → AuthenticationError", async () => {
  const other = new OpenAI({ apiKey: "wrong-token-0123456789", baseURL: `${s.url}/v1`, maxRetries: 0 });
  const err = await other.models.list().catch((e) => e);
  expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
});

test("GET /v1/models lists the default, fallbacks and AI_MODELS once each", async () => {
  const ids: string[] = [];
  for await (const m of client.models.list()) ids.push(m.id);
  expect(ids).toEqual(["anthropic/sim", "openai/sim", "google/sim"]);
});

test("`user` is stored with usage (usage.end_user) and GET /usage?endUser= totals only that end user", async () => {
  await client.chat.completions.create({
    model: "openai/sim@tokens=3",
    user: "end-user-42",
    messages: [{ role: "user", content: "who" }],
  });
  const stream = await client.chat.completions.create({
    model: "anthropic/sim@tokens=2",
    user: "end-user-42",
    stream: true,
    messages: [{ role: "user", content: "who" }],
  });
  for await (const _ of stream) {
    /* drain */
  }
  await client.chat.completions.create({
    model: "openai/sim@tokens=5",
    messages: [{ role: "user", content: "anon" }],
  });
  const rows = await waitFor(
    () => {
      const r = s.usageRows().filter((u) => u.end_user === "end-user-42");
      return r.length === 2 ? r : undefined;
    },
    { what: "two usage rows of end-user-42" },
  );
  expect(rows.map((r) => [r.provider, r.output_tokens]).sort()).toEqual([
    ["anthropic", 2],
    ["openai", 3],
  ]);
  // The billed user (user_id) is another thing: none here (direct mode, no forwarded identity).
  expect(rows.every((r) => r.user_id === null)).toBe(true);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const body = (await (await fetch(`${s.url}/usage?endUser=end-user-42`, { headers: auth })).json()) as {
    endUser: string;
    totals: { provider: string; requests: number; outputTokens: number }[];
  };
  expect(body.endUser).toBe("end-user-42");
  expect(body.totals.map((t) => [t.provider, t.requests, t.outputTokens])).toEqual([
    ["anthropic", 1, 2],
    ["openai", 1, 3],
  ]);
  const bad = await fetch(`${s.url}/usage?endUser=`, { headers: auth });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(await bad.json())).toContain("endUser");
});
