/**
 * The shared frame schema (src/shared/gateway-frames.ts), used by the gateway and `pipbot chat`,
 * agrees with the published protocol.schema.json (RequestFrame / ResponseFrame / EventFrame) on
 * valid and invalid frames; the one deliberate difference is leniency to extra keys inbound.
 */
import { describe, expect, test } from "bun:test";
import { parseRequestFrame } from "../../src/gateway/protocol.ts";
import {
  eventFrameSchema,
  parseFrame,
  requestFrameSchema,
  responseFrameSchema,
} from "../../src/shared/gateway-frames.ts";
import { validate } from "./helpers.ts";

const cases: [
  string,
  typeof requestFrameSchema | typeof responseFrameSchema | typeof eventFrameSchema,
  unknown,
][] = [
  ["RequestFrame", requestFrameSchema, { type: "req", id: "1", method: "chat.send", params: { a: 1 } }],
  ["RequestFrame", requestFrameSchema, { type: "req", id: "1", method: "health" }],
  ["RequestFrame", requestFrameSchema, { type: "req", id: "", method: "health" }],
  ["RequestFrame", requestFrameSchema, { type: "req", id: "1", method: "" }],
  ["RequestFrame", requestFrameSchema, { type: "res", id: "1", method: "x" }],
  ["RequestFrame", requestFrameSchema, { type: "req", method: "x" }],
  ["ResponseFrame", responseFrameSchema, { type: "res", id: "1", ok: true, payload: { x: 1 } }],
  [
    "ResponseFrame",
    responseFrameSchema,
    { type: "res", id: "1", ok: false, error: { code: "INVALID_REQUEST", message: "no" } },
  ],
  [
    "ResponseFrame",
    responseFrameSchema,
    { type: "res", id: "1", ok: false, error: { code: "X", message: "m", retryAfterMs: -1 } },
  ],
  ["ResponseFrame", responseFrameSchema, { type: "res", id: "1" }],
  ["ResponseFrame", responseFrameSchema, { type: "res", id: "1", ok: "yes" }],
  ["EventFrame", eventFrameSchema, { type: "event", event: "chat", payload: {}, seq: 3 }],
  ["EventFrame", eventFrameSchema, { type: "event", event: "connect.challenge", payload: { nonce: "n" } }],
  ["EventFrame", eventFrameSchema, { type: "event", event: "" }],
  ["EventFrame", eventFrameSchema, { type: "event", event: "tick", seq: -1 }],
  ["EventFrame", eventFrameSchema, { type: "event", event: "tick", seq: 1.5 }],
];

describe("shared frame schema", () => {
  test("accepts and refuses exactly what the published schema does", () => {
    for (const [def, schema, frame] of cases) {
      const published = validate(def, frame) === null;
      expect({ frame, ok: schema.safeParse(frame).success }).toEqual({ frame, ok: published });
    }
  });

  test("inbound frames with extra keys are read (lenient); the gateway's request errors name the field", () => {
    expect(parseFrame(JSON.stringify({ type: "event", event: "x", extra: 1 }), eventFrameSchema).ok).toBe(
      true,
    );
    expect(parseRequestFrame("{")).toMatchObject({ ok: false, reason: "not JSON", json: false });
    expect(parseRequestFrame("[1]")).toMatchObject({ ok: false, reason: "not an object" });
    expect(parseRequestFrame('{"type":"res","id":"a"}')).toEqual({
      ok: false,
      reason: 'type must be "req"',
      json: true,
      id: "a",
    });
    expect(parseRequestFrame('{"type":"req","method":"m"}')).toEqual({
      ok: false,
      reason: "id must be a non-empty string",
      json: true,
    });
    expect(parseRequestFrame('{"type":"req","id":"a","method":""}')).toEqual({
      ok: false,
      reason: "method must be a non-empty string",
      json: true,
      id: "a",
    });
    expect(parseRequestFrame('{"type":"req","id":"a","method":"m","params":{"k":1},"x":2}')).toEqual({
      ok: true,
      frame: { type: "req", id: "a", method: "m", params: { k: 1 } },
    });
  });
});
