/** The field-by-field validator answers exactly as the whole schema does. */
import { describe, expect, test } from "bun:test";
import { chatRequestSchema } from "../shared/chat-api.ts";
import { PipbotError } from "../shared/errors.ts";
import { anthropicRequestSchema } from "./anthropic-schema.ts";
import { known, openaiRequestSchema } from "./openai-schema.ts";
import { fieldValidator, validate } from "./request-body.ts";

const check = fieldValidator(openaiRequestSchema, known);

/** The error (or the value) of a call. */
function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (e) {
    if (!(e instanceof PipbotError)) throw e;
    return { code: e.code, message: e.message, details: e.details };
  }
}

describe("fieldValidator (the OpenAI request)", () => {
  test("a valid body passes as read, unknown keys kept (a loose schema)", () => {
    const body = {
      model: "openai/x",
      messages: [
        { role: "user", content: [{ type: "text", text: "hi", cache_control: { type: "ephemeral" } }] },
      ],
      stream: true,
      temperature: 0.5,
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
      some_new_param: 1,
    };
    expect(check(body) as unknown).toBe(body);
    expect(outcome(() => validate(openaiRequestSchema, body))).toMatchObject({ ok: body });
  });

  const bad: [string, unknown][] = [
    ["no messages", { model: "m" }],
    ["empty messages", { messages: [] }],
    ["a wrong role", { messages: [{ role: "robot", content: "x" }] }],
    ["a nested wrong type", { messages: [{ role: "user", content: [{ type: "text", text: 3 }] }] }],
    ["a field out of range", { messages: [{ role: "user", content: "x" }], temperature: 9 }],
    ["several issues at once", { messages: "x", stream: "yes", n: -1 }],
    [
      "a bad tool name",
      {
        messages: [{ role: "user", content: "x" }],
        tools: [{ type: "function", function: { name: "a b" } }],
      },
    ],
    ["an array body", [1, 2]],
    ["a string body", "hello"],
    ["null", null],
  ];
  for (const [what, body] of bad)
    test(`${what}: the same 400 as the whole schema`, () => {
      const mine = outcome(() => check(body));
      expect(mine).toEqual(outcome(() => validate(openaiRequestSchema, body)));
      expect(mine).toMatchObject({ code: "invalid_request" });
    });
});

describe("fieldValidator on strict schemas (/chat, /v1/messages)", () => {
  const chat = fieldValidator(chatRequestSchema, chatRequestSchema.shape, { strict: true });
  const messages = fieldValidator(anthropicRequestSchema, anthropicRequestSchema.shape, { strict: true });
  const cases: [
    string,
    (v: unknown) => unknown,
    typeof chatRequestSchema | typeof anthropicRequestSchema,
    unknown,
  ][] = [
    ["/chat: valid", chat, chatRequestSchema, { messages: [{ role: "user", content: "hi" }], cache: "auto" }],
    [
      "/chat: an unknown key is refused",
      chat,
      chatRequestSchema,
      { messages: [{ role: "user", content: "hi" }], temperatur: 1 },
    ],
    [
      "/chat: a bad field",
      chat,
      chatRequestSchema,
      { messages: [{ role: "user", content: "hi" }], max_tokens: 0 },
    ],
    ["/chat: no messages", chat, chatRequestSchema, { model: "openai/x" }],
    [
      "/v1/messages: valid",
      messages,
      anthropicRequestSchema,
      { model: "claude-x", max_tokens: 10, messages: [{ role: "user", content: "hi" }] },
    ],
    [
      "/v1/messages: an unknown key is refused",
      messages,
      anthropicRequestSchema,
      { model: "claude-x", max_tokens: 10, messages: [{ role: "user", content: "hi" }], n: 2 },
    ],
    [
      "/v1/messages: max_tokens missing",
      messages,
      anthropicRequestSchema,
      { model: "claude-x", messages: [{ role: "user", content: "hi" }] },
    ],
  ];
  for (const [what, f, schema, body] of cases)
    test(`${what}: as the whole schema answers`, () => {
      expect(outcome(() => f(body))).toEqual(outcome(() => validate(schema, body)));
    });
});
