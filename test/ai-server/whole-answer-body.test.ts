/**
 * A non-stream caller's whole answer that is not what the provider's API answers: an
 * OpenAI-compatible server (outside the VM: here a fake on port 0, like a misconfigured
 * OPENAI_BASE_URL in front of a login page) answering 200 with HTML, or with JSON that is no
 * chat.completion. Each is a clear 502 naming what came, never a parse message or a hang, and the
 * server keeps answering.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import OpenAI from "openai";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { waitFor } from "../helpers/index.ts";
import { startTestAiServer, type TestAiServer } from "./harness.ts";

let sim: UpstreamSim;
let fake: ReturnType<typeof Bun.serve>;
let s: TestAiServer;
const seen: { stream: unknown }[] = [];

beforeAll(async () => {
  sim = await startUpstreamSim();
  fake = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      // Gemini's path names the model (…/models/<model>:generateContent); its body has none.
      const gemini = /\/models\/([^/:]+):(\w+)/.exec(new URL(req.url).pathname);
      if (gemini) {
        seen.push({ stream: gemini[2] });
        if (gemini[1] === "html")
          return new Response("<html><body>Please log in</body></html>", {
            headers: { "content-type": "text/html" },
          });
        return Response.json({
          candidates: [{ content: { role: "model", parts: [{ text: "fine" }] }, finishReason: "STOP" }],
          usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 4 },
        });
      }
      const body = (await req.json()) as { model: string; stream?: unknown };
      seen.push({ stream: body.stream });
      if (body.model === "html")
        return new Response("<html><body>Please log in</body></html>", {
          headers: { "content-type": "text/html" },
        });
      if (body.model === "nochoices") return Response.json({ object: "chat.completion", id: "x" });
      return Response.json({
        id: "chatcmpl-1",
        object: "chat.completion",
        created: 1,
        model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content: "fine" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
      });
    },
  });
  s = await startTestAiServer(
    sim,
    { defaultModel: "openai/ok", maxRetries: 1 },
    {
      keys: { openai: "fake-key-0123", google: "fake-key-4567" },
      baseUrls: { openai: `http://127.0.0.1:${fake.port}/v1`, google: `http://127.0.0.1:${fake.port}` },
    },
  );
});
afterAll(async () => {
  await s.stop();
  fake.stop(true);
  await sim.stop();
});

const client = () => new OpenAI({ apiKey: "unused", baseURL: `${s.url}/v1`, maxRetries: 0 });

test("a 200 that is not JSON → 502 naming the content type and the body's start; not retried", async () => {
  seen.length = 0;
  const err = await client()
    .chat.completions.create({ model: "openai/html", messages: [{ role: "user", content: "hi" }] })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OpenAI.APIError);
  const e = err as InstanceType<typeof OpenAI.APIError>;
  expect(e.status).toBe(502);
  expect(e.message).toContain("the answer is not JSON (text/html)");
  expect(e.message).toContain("Please log in");
  // One non-stream request upstream: the same body would come back on a retry.
  expect(seen).toEqual([{ stream: false }]);
});

test("Gemini: a 200 that is not JSON → the same clear 502, not retried, not a connection failure", async () => {
  seen.length = 0;
  const err = await client()
    .chat.completions.create({ model: "google/html", messages: [{ role: "user", content: "hi" }] })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OpenAI.APIError);
  const e = err as InstanceType<typeof OpenAI.APIError>;
  expect(e.status).toBe(502);
  expect(e.message).toContain("google upstream HTTP 200: the answer is not JSON (text/html)");
  expect(e.message).not.toContain("connection failed");
  // One :generateContent request: not retried (maxRetries is 1 here).
  expect(seen).toEqual([{ stream: "generateContent" }]);
  // A good Gemini answer from the same server works.
  const ok = await client().chat.completions.create({
    model: "google/ok",
    messages: [{ role: "user", content: "hi" }],
  });
  expect(ok.choices[0]?.message.content).toBe("fine");
});

test("JSON that is no chat.completion → 502 saying the answer had no stop reason", async () => {
  const err = await client()
    .chat.completions.create({ model: "openai/nochoices", messages: [{ role: "user", content: "hi" }] })
    .catch((e: unknown) => e);
  expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
  expect((err as Error).message).toContain("openai/nochoices answer ended without a stop reason");
});

test("the server keeps answering: a good upstream answer right after", async () => {
  const r = await client().chat.completions.create({
    model: "openai/ok",
    messages: [{ role: "user", content: "hi" }],
  });
  expect(r.choices[0]?.message.content).toBe("fine");
  // The usage row is written just after the reply.
  const rows = await waitFor(() => (s.usageRows().length === 5 ? s.usageRows() : undefined), {
    what: "five usage rows",
  });
  expect(rows.map((u) => [u.model, u.status])).toEqual([
    ["html", "error"],
    ["html", "error"],
    ["ok", "ok"],
    ["nochoices", "error"],
    ["ok", "ok"],
  ]);
});
