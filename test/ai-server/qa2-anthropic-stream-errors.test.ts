/**
 * QA of /v1/messages streams through the real `@anthropic-ai/sdk`: a request that fails before
 * any token must answer with the HTTP status and error body Anthropic's API would (the SDK maps
 * only HTTP statuses to its error classes — NotFoundError, RateLimitError, OverloadedError… — and
 * an `error` event inside a 200 stream becomes a bare APIError with no status). After the first
 * token a failure can only be the stream's `error` event, as on Anthropic's API.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { waitFor } from "../helpers/index.ts";
import { startTestAiServer, type TestAiServer, uniqueKey } from "./harness.ts";

let sim: UpstreamSim;
let server: TestAiServer;
let claude: Anthropic;
beforeAll(async () => {
  sim = await startUpstreamSim();
  server = await startTestAiServer(sim, { maxRetries: 0 });
  claude = new Anthropic({ apiKey: "any-key-000000", baseURL: server.url, maxRetries: 0 });
});
afterAll(async () => {
  await server.stop();
  await sim.stop();
});
afterEach(() => sim.reset());

const ask = (model: string) => ({
  model,
  max_tokens: 100,
  messages: [{ role: "user" as const, content: "hi" }],
});
type ApiError = InstanceType<typeof Anthropic.APIError>;

test("messages.stream() on an unknown model → the SDK's NotFoundError (404), as without streaming", async () => {
  const e = (await claude.messages
    .stream(ask("anthropic/unknown-model"))
    .finalMessage()
    .catch((x: unknown) => x)) as ApiError;
  expect(e).toBeInstanceOf(Anthropic.NotFoundError);
  expect(e.status).toBe(404);
  expect(e.error).toMatchObject({ type: "error", error: { type: "not_found_error" } });
  expect(e.headers?.get("x-pipbot-request-id")).toBeTruthy();
  expect(sim.requests.map((r) => r.status)).toEqual([404]);
  // The failed request is still recorded.
  await waitFor(() => server.usageRows().find((u) => u.status === "error"), { what: "the error usage row" });
});

test("create({stream:true}) rate-limited upstream → RateLimitError (429) with the retry hint", async () => {
  const e = (await claude.messages
    .create({ ...ask("claude-sim@status=429,retry_after=7"), stream: true })
    .then(async (st) => {
      for await (const _ of st) {
        /* drain */
      }
      return new Error("the stream did not fail");
    })
    .catch((x: unknown) => x)) as ApiError;
  expect(e).toBeInstanceOf(Anthropic.RateLimitError);
  expect(e.status).toBe(429);
  expect(e.headers?.get("retry-after")).toBe("7");
});

test("an overloaded upstream (529 after the retries) → OverloadedError; an in-stream error before any token too", async () => {
  const overloaded = (await claude.messages
    .stream(ask(`claude-sim@status=529,key=${uniqueKey()}`))
    .finalMessage()
    .catch((x: unknown) => x)) as ApiError;
  expect(overloaded).toBeInstanceOf(Anthropic.OverloadedError);
  const early = (await claude.messages
    .stream(ask("claude-sim@fault=error_after:0"))
    .finalMessage()
    .catch((x: unknown) => x)) as ApiError;
  expect(early.status).toBeNumber();
  expect(early.error).toMatchObject({ type: "error", error: { type: "overloaded_error" } });
});

test("after the first token a failure is the stream's error event: the text so far reached the caller", async () => {
  const st = claude.messages.stream(ask("claude-sim@fault=error_after:2,tokens=10"));
  const texts: string[] = [];
  st.on("text", (t) => texts.push(t));
  const e = (await st.finalMessage().catch((x: unknown) => x)) as ApiError;
  expect(e).toBeInstanceOf(Anthropic.APIError);
  expect(e.message).toContain("overloaded_error");
  expect(texts.join("")).toBe("You said: hi. w1");
});

test("a stream that succeeds is unchanged: message_start first, the SDK's accumulated message", async () => {
  const st = claude.messages.stream(ask("claude-sim@tokens=3"));
  const types: string[] = [];
  st.on("streamEvent", (ev) => types.push(ev.type));
  const m = await st.finalMessage();
  expect((m.content[0] as Anthropic.TextBlock).text).toBe("You said: hi. w1 w2");
  expect(types[0]).toBe("message_start");
  expect(types.at(-1)).toBe("message_stop");
  const res = await st.withResponse().then((r) => r.response);
  expect(res.headers.get("x-pipbot-request-id")).toBeTruthy();
  expect(res.headers.get("content-type")).toStartWith("text/event-stream");
});

test("a caller that gives up before the first token cancels the upstream request; recorded as aborted", async () => {
  const ac = new AbortController();
  const pending = claude.messages
    .stream(ask("claude-sim@ttft=20000"), { signal: ac.signal })
    .finalMessage()
    .catch((x: unknown) => x);
  await waitFor(() => sim.requests.length === 1, { what: "the upstream request" });
  ac.abort();
  expect(await pending).toBeInstanceOf(Anthropic.APIUserAbortError);
  await waitFor(() => sim.requests[0]?.aborted, {
    what: "the simulator to see the upstream request aborted",
  });
  await waitFor(() => server.usageRows().find((u) => u.status === "aborted"), {
    what: "the aborted usage row",
  });
});
