/**
 * Gemini's safety answers as each client library sees them: a prompt blocked before any candidate
 * (`promptFeedback.blockReason`, no candidates) and an answer stopped by SAFETY after some text.
 * Either must read as a content filter (openai `content_filter`, AI SDK `content-filter`, /chat
 * `content_filter`), never as a clean stop or a retried failure. The upstream is a test-local fake
 * of the Gemini API's exact bodies (the simulator never blocks); the AI server and clients are real.
 */
import { describe, expect, test } from "bun:test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, streamText } from "ai";
import { fakeProviderServer, postChat } from "./harness.ts";

const BLOCKED = {
  promptFeedback: {
    blockReason: "PROHIBITED_CONTENT",
    safetyRatings: [{ category: "HARM_CATEGORY_DANGEROUS_CONTENT", probability: "HIGH", blocked: true }],
  },
  usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 },
  modelVersion: "gemini-2.5-flash",
  responseId: "resp-blocked",
};
const SAFETY_CHUNKS = [
  {
    candidates: [{ content: { role: "model", parts: [{ text: "Here is how" }] }, index: 0 }],
    usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 3, totalTokenCount: 11 },
  },
  {
    candidates: [
      {
        content: { role: "model", parts: [{ text: "" }] },
        finishReason: "SAFETY",
        index: 0,
        safetyRatings: [{ category: "HARM_CATEGORY_DANGEROUS_CONTENT", probability: "HIGH", blocked: true }],
      },
    ],
    usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 3, totalTokenCount: 11 },
  },
];
const SAFETY_WHOLE = {
  candidates: [
    { ...SAFETY_CHUNKS[1]?.candidates[0], content: { role: "model", parts: [{ text: "Here is how" }] } },
  ],
  usageMetadata: SAFETY_CHUNKS[1]?.usageMetadata,
};

let upstreamCalls = 0;
const t = fakeProviderServer(
  "google",
  (req) => {
    upstreamCalls++;
    const path = new URL(req.url).pathname;
    const blocked = path.includes("/models/blocked");
    if (path.endsWith(":streamGenerateContent")) {
      const chunks = blocked ? [BLOCKED] : SAFETY_CHUNKS;
      return new Response(chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join(""), {
        headers: { "content-type": "text/event-stream" },
      });
    }
    return Response.json(blocked ? BLOCKED : SAFETY_WHOLE);
  },
  { maxRetries: 2 },
);

const messages = [{ role: "user" as const, content: "something Gemini refuses" }];

describe.each([
  ["blocked prompt", "google/blocked", ""],
  ["SAFETY after text", "google/safety", "Here is how"],
])("%s", (_name, model, text) => {
  test("openai SDK non-stream: content_filter, not retried", async () => {
    const before = upstreamCalls;
    const r = await t.openai.chat.completions.create({ model, messages });
    expect(r.choices[0]?.finish_reason).toBe("content_filter");
    expect(r.choices[0]?.message.content ?? "").toBe(text);
    expect(upstreamCalls - before).toBe(1);
  });

  test("openai SDK stream: the finish chunk says content_filter", async () => {
    let finish: string | null = null;
    let out = "";
    for await (const c of await t.openai.chat.completions.create({ model, messages, stream: true })) {
      finish = c.choices[0]?.finish_reason ?? finish;
      out += c.choices[0]?.delta.content ?? "";
    }
    expect(finish).toBe("content_filter");
    expect(out).toBe(text);
  });

  test("Vercel AI SDK generateText and streamText: finishReason content-filter", async () => {
    const pipbot = createOpenAICompatible({ name: "pipbot", baseURL: `${t.server.url}/v1`, apiKey: "any" });
    const g = await generateText({ model: pipbot(model), messages, maxRetries: 0 });
    expect(g.finishReason).toBe("content-filter");
    expect(g.text).toBe(text);
    const st = streamText({ model: pipbot(model), messages, maxRetries: 0 });
    expect(await st.text).toBe(text);
    expect(await st.finishReason).toBe("content-filter");
  });

  test("LangChain invoke: response_metadata.finish_reason content_filter", async () => {
    const lc = new ChatOpenAI({
      model,
      apiKey: "any",
      configuration: { baseURL: `${t.server.url}/v1` },
      maxRetries: 0,
    });
    const m = await lc.invoke(messages);
    expect(m.response_metadata.finish_reason).toBe("content_filter");
    expect(m.content).toBe(text);
  });

  test("/chat stream and not: stopReason content_filter", async () => {
    const res = await postChat(t.server.url, { model, messages });
    const body = (await res.json()) as { stopReason: string };
    expect(res.status).toBe(200);
    expect(body.stopReason).toBe("content_filter");
    const sse = await (await postChat(t.server.url, { model, messages, stream: true })).text();
    expect(sse).toContain('"stopReason":"content_filter"');
  });
});
