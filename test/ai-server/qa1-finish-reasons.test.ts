/**
 * A stop reason outside OpenAI's few (Gemini's MALFORMED_FUNCTION_CALL, LANGUAGE, OTHER …) is not
 * passed off as a clean `finish_reason: "stop"`: the OpenAI face names it, as `/chat` does, so
 * a client can tell an empty failed turn from an answer. The upstream is a fake of the Gemini API's
 * exact answer for such a turn (the simulator never produces one); the AI server and the clients
 * are real.
 */
import { expect, test } from "bun:test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText } from "ai";
import { fakeProviderServer } from "./harness.ts";

/** The Gemini API's answer when the model wrote a call it could not parse (no content, a message). */
const MALFORMED = {
  candidates: [
    {
      index: 0,
      finishReason: "MALFORMED_FUNCTION_CALL",
      finishMessage: "Malformed function call: print(default_api.get_weather(city=Paris))",
    },
  ],
  usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 },
  modelVersion: "gemini-2.5-flash",
  responseId: "resp-malformed",
};

function fakeGemini(req: Request): Response {
  if (new URL(req.url).pathname.endsWith(":streamGenerateContent"))
    return new Response(`data: ${JSON.stringify(MALFORMED)}\r\n\r\n`, {
      headers: { "content-type": "text/event-stream" },
    });
  return Response.json(MALFORMED);
}

const model = "google/gemini-2.5-flash";
const tools = [
  {
    type: "function" as const,
    function: {
      name: "get_weather",
      parameters: { type: "object", properties: { city: { type: "string" } } },
    },
  },
];
const t = fakeProviderServer("google", fakeGemini, { defaultModel: model, maxRetries: 0 });

const messages = [{ role: "user" as const, content: "weather in Paris?" }];

test("non-stream: finish_reason names Gemini's reason, not stop", async () => {
  const r = await t.openai.chat.completions.create({ model, messages, tools });
  expect(r.choices[0]?.finish_reason as string).toBe("malformed_function_call");
  expect(r.choices[0]?.message.content).toBe("");
});

test("streamed: the finish chunk names it too", async () => {
  let finish: string | null = null;
  for await (const c of await t.openai.chat.completions.create({ model, messages, tools, stream: true }))
    finish = c.choices[0]?.finish_reason ?? finish;
  expect(finish).toBe("malformed_function_call");
});

test("Vercel AI SDK: the turn is finishReason other, not a clean stop", async () => {
  const pipbot = createOpenAICompatible({ name: "pipbot", baseURL: `${t.server.url}/v1`, apiKey: "any" });
  const r = await generateText({ model: pipbot(model), prompt: "weather in Paris?", maxRetries: 0 });
  expect(r.finishReason).toBe("other");
  expect(r.text).toBe("");
});
