/**
 * Request fields inside messages and tools that OpenAI honours but pipbot's engine cannot carry
 * (a participant's `name`, an image's `detail`, a forced tool choice with no tools offered) are
 * refused with a 400 naming them — never dropped silently — and dropped only when the caller opts
 * in (x-pipbot-dropped-params then names them). Driven with the `openai` SDK on every prefix.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import OpenAI from "openai";
import { PNG_B64, PROVIDERS, type Surface, startSurface, TOKEN, WEATHER_TOOL } from "./surface-helpers.ts";

let s: Surface;
beforeAll(async () => {
  s = await startSurface();
});
afterAll(() => s.stop());
afterEach(() => s.sim.reset());

const image = (detail: "low" | "high" | "auto") => ({
  type: "image_url" as const,
  image_url: { url: `data:image/png;base64,${PNG_B64}`, detail },
});

const cases: [string, string, Partial<OpenAI.ChatCompletionCreateParamsNonStreaming>][] = [
  ["a user's name", "messages.0.name", { messages: [{ role: "user", name: "alice", content: "hi" }] }],
  [
    "an assistant's name",
    "messages.1.name",
    {
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", name: "bot", content: "hello" },
        { role: "user", content: "again" },
      ],
    },
  ],
  [
    "a system name",
    "messages.0.name",
    {
      messages: [
        { role: "system", name: "rules", content: "be brief" },
        { role: "user", content: "hi" },
      ],
    },
  ],
  [
    "image detail low",
    "messages.0.content.1.image_url.detail",
    { messages: [{ role: "user", content: [{ type: "text", text: "look" }, image("low")] }] },
  ],
  [
    "tool_choice required without tools",
    "tool_choice",
    { tool_choice: "required", messages: [{ role: "user", content: "x" }] },
  ],
  [
    "a named tool_choice without tools",
    "tool_choice",
    {
      tool_choice: { type: "function", function: { name: "get_weather" } },
      messages: [{ role: "user", content: "x" }],
    },
  ],
];

describe.each(PROVIDERS)("%s/", (provider) => {
  test.each(cases)("%s → 400 naming %s; dropped on request", async (_what, param, extra) => {
    const body = {
      model: `${provider}/sim`,
      messages: [],
      ...extra,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const err = await s.openai.chat.completions.create(body).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.param).toBe(param);
    expect(err.message).toContain(param);
    expect(err.message).toContain("drop_params");
    expect(s.sim.requests).toHaveLength(0);

    const ok = await s.openai.chat.completions
      .create(body, { headers: { "x-pipbot-drop-params": "true" } })
      .withResponse();
    expect(ok.data.choices[0]?.finish_reason).toBe("stop");
    expect(ok.response.headers.get("x-pipbot-dropped-params")?.split(",")).toContain(param);
  });
});

test("what is honoured stays accepted: detail auto, tool_choice auto / none without tools, name-less messages", async () => {
  for (const provider of PROVIDERS) {
    const r = await s.openai.chat.completions.create({
      model: `${provider}/sim`,
      tool_choice: "none",
      messages: [{ role: "user", content: [{ type: "text", text: "look" }, image("auto")] }],
    });
    expect(r.choices[0]?.message.content).toContain("I see image/png");
    const auto = await s.openai.chat.completions.create({
      model: `${provider}/sim`,
      tool_choice: "auto",
      messages: [{ role: "user", content: "x" }],
    });
    expect(auto.choices[0]?.finish_reason).toBe("stop");
  }
});

test("LangChain's tool loop (its ToolMessage sends the tool's name) is accepted on every prefix", async () => {
  for (const provider of PROVIDERS) {
    const llm = new ChatOpenAI({
      model: `${provider}/sim`,
      apiKey: TOKEN,
      configuration: { baseURL: `${s.server.url}/v1` },
      maxRetries: 0,
    }).bindTools([WEATHER_TOOL]);
    const messages: BaseMessage[] = [new HumanMessage("weather in Paris?")];
    const ai = await llm.invoke(messages);
    const call = ai.tool_calls?.[0];
    messages.push(
      ai,
      new ToolMessage({ content: "Sunny", tool_call_id: call?.id ?? "", name: "get_weather" }),
    );
    const final = await llm.invoke(messages);
    expect(String(final.content)).toContain("Tool get_weather returned");
  }
});
