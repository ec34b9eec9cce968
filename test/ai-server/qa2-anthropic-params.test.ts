/**
 * QA of /v1/messages through the real `@anthropic-ai/sdk`: request fields the Anthropic API takes
 * that pipbot cannot honour must be refused with a 400 naming them (the SDK's BadRequestError),
 * never silently dropped on the way upstream — and the ones it honours must reach the upstream.
 */
import { expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { claudeSurface, upstreamBody } from "./surface-helpers.ts";

const t = claudeSurface();

const base = {
  model: "claude-sim@tokens=2",
  max_tokens: 3000,
  messages: [{ role: "user" as const, content: "hi" }],
};
const weather = {
  name: "get_weather",
  input_schema: { type: "object" as const, properties: { city: { type: "string" } } },
};
const PDF = Buffer.from("%PDF-1.4\n%%EOF\n").toString("base64");

/** The SDK's error for a request, with nothing sent upstream. */
async function refused(params: Record<string, unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
  const e = await t.claude.messages
    .create({ ...base, ...params } as Anthropic.MessageCreateParamsNonStreaming)
    .then(
      (m) => new Error(`accepted: ${JSON.stringify(t.s.sim.requests.at(-1)?.body ?? m)}`),
      (x: unknown) => x,
    );
  expect(e).toBeInstanceOf(Anthropic.BadRequestError);
  expect(t.s.sim.requests).toEqual([]);
  return e as InstanceType<typeof Anthropic.APIError>;
}

const cases: [string, Record<string, unknown>, RegExp][] = [
  [
    'thinking.display "omitted" (pipbot always asks for summarized thinking)',
    { thinking: { type: "enabled", budget_tokens: 1024, display: "omitted" } },
    /thinking\.display/,
  ],
  [
    'thinking {type:"adaptive"}: a clear message, not "Invalid input"',
    { thinking: { type: "adaptive" } },
    /adaptive.*budget_tokens/,
  ],
  ["output_config.effort", { output_config: { effort: "low" } }, /output_config.*effort/],
  [
    "a tool's input_examples",
    { tools: [{ ...weather, input_examples: [{ city: "Rome" }] }] },
    /tools\.0.*input_examples/,
  ],
  ["a tool's defer_loading", { tools: [{ ...weather, defer_loading: true }] }, /tools\.0.*defer_loading/],
  ["metadata beyond user_id", { metadata: { user_id: "u1", session: "x" } }, /metadata.*session/],
  [
    "tool_choice fields it does not take",
    { tools: [weather], tool_choice: { type: "auto", parallel: false } },
    /tool_choice.*parallel/,
  ],
  [
    "a PDF document with citations enabled",
    {
      messages: [
        {
          role: "user",
          content: [
            {
              type: "document",
              source: { type: "base64", media_type: "application/pdf", data: PDF },
              citations: { enabled: true },
            },
            { type: "text", text: "cite it" },
          ],
        },
      ],
    },
    /messages\.0\.content\.0\.citations/,
  ],
  [
    "a document's context",
    {
      messages: [
        {
          role: "user",
          content: [
            {
              type: "document",
              source: { type: "base64", media_type: "application/pdf", data: PDF },
              context: "from the 2024 report",
            },
            { type: "text", text: "x" },
          ],
        },
      ],
    },
    /messages\.0\.content\.0\.context/,
  ],
  [
    "a plain-text document source: the message says which sources work",
    {
      messages: [
        {
          role: "user",
          content: [{ type: "document", source: { type: "text", media_type: "text/plain", data: "hello" } }],
        },
      ],
    },
    /source.*base64.*url/,
  ],
  [
    "a document in a tool result: the message says what a tool result may hold",
    {
      tools: [weather],
      messages: [
        { role: "user", content: "x" },
        { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "get_weather", input: {} }] },
        {
          role: "user",
          content: [
            {
              type: "tool_result",
              tool_use_id: "t1",
              content: [
                { type: "document", source: { type: "base64", media_type: "application/pdf", data: PDF } },
              ],
            },
          ],
        },
      ],
    },
    /messages\.2\.content\.0\.content: a tool_result's content must be a string or text and image blocks/,
  ],
  [
    "a system block that is not text: the error names the block, not 'system: Invalid input'",
    {
      system: [
        { type: "text", text: "ok" },
        { type: "image", source: { type: "url", url: "https://x/y.png" } },
      ],
    },
    /system\.1\.type/,
  ],
];

for (const [name, params, names] of cases)
  test(`refused with a 400 naming it: ${name}`, async () => {
    const e = await refused(params);
    expect(e.message).toMatch(names);
    expect(e.error).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    expect(e.headers?.get("x-pipbot-request-id")).toBeTruthy();
  });

test("what is honoured reaches the upstream: display summarized, disable_parallel_tool_use with auto, a titled PDF", async () => {
  const m = await t.claude.messages.create({
    ...base,
    thinking: { type: "enabled", budget_tokens: 1024, display: "summarized" },
    tools: [weather],
    tool_choice: { type: "auto", disable_parallel_tool_use: true },
    metadata: { user_id: "end-user-1" },
    messages: [
      {
        role: "user",
        content: [
          {
            type: "document",
            source: { type: "base64", media_type: "application/pdf", data: PDF },
            title: "doc",
          },
          { type: "text", text: "weather" },
        ],
      },
    ],
  });
  expect(m.stop_reason).toBe("tool_use");
  const up = upstreamBody(t.s.sim, "anthropic");
  expect(up.thinking).toEqual({ type: "enabled", budget_tokens: 1024, display: "summarized" });
  expect(up.tool_choice).toEqual({ type: "auto", disable_parallel_tool_use: true });
  expect(up.metadata).toEqual({ user_id: "end-user-1" });
  expect(up.messages[0].content[0]).toMatchObject({ type: "document", title: "doc" });
});

test("drop opt-in on a stream: the parameter is dropped and named in x-pipbot-dropped-params", async () => {
  const { data, response } = await t.claude.messages
    .create(
      // The SDK's types no longer list temperature; the API (and pipbot) still take it.
      {
        ...base,
        stream: true,
        temperature: 0.5,
        thinking: { type: "enabled", budget_tokens: 1024 },
      } as Anthropic.MessageCreateParamsStreaming,
      { headers: { "x-pipbot-drop-params": "true" } },
    )
    .withResponse();
  for await (const _ of data) {
    /* drain */
  }
  expect(response.headers.get("x-pipbot-dropped-params")).toBe("temperature");
  expect(upstreamBody(t.s.sim, "anthropic").temperature).toBeUndefined();
});
