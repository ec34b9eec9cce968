/** Protocol pieces without a port: version negotiation, close reasons, request frame parsing. */
import { describe, expect, test } from "bun:test";
import { closeReason, negotiateProtocol, parseRequestFrame } from "./protocol.ts";

describe("protocol", () => {
  test("negotiation prefers 4, falls back to 3, else null", () => {
    expect(negotiateProtocol(3, 4)).toBe(4);
    expect(negotiateProtocol(4, 9)).toBe(4);
    expect(negotiateProtocol(1, 3)).toBe(3);
    expect(negotiateProtocol(5, 6)).toBeNull();
    expect(negotiateProtocol(4, 3)).toBeNull();
  });

  test("close reasons are cut to 120 bytes without splitting characters", () => {
    const r = closeReason("é".repeat(100));
    expect(Buffer.byteLength(r)).toBeLessThanOrEqual(120);
    expect(r).toBe("é".repeat(60));
    expect(closeReason("short")).toBe("short");
  });

  test("request frames: id reported when readable", () => {
    expect(parseRequestFrame('{"type":"req","id":"1","method":"m"}')).toEqual({
      ok: true,
      frame: { type: "req", id: "1", method: "m" },
    });
    expect(parseRequestFrame('{"type":"res","id":"7"}')).toMatchObject({ ok: false, id: "7" });
    expect(parseRequestFrame("nope")).toMatchObject({ ok: false, json: false });
    expect(parseRequestFrame('{"type":"req","id":"2","method":""}')).toMatchObject({ ok: false, id: "2" });
  });
});
