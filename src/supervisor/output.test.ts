/** Child output: line splitting, JSON tagging, the pretty form and redaction. */
import { describe, expect, test } from "bun:test";
import { REDACTED, Redactor } from "../shared/redact.ts";
import { hasSecretField, LineSplitter, prettyLine, tagLine } from "./output.ts";

describe("output", () => {
  const now = new Date("2026-01-01T00:00:00.000Z");
  test("LineSplitter holds partial lines, handles CRLF and multi-byte characters split across chunks", () => {
    const s = new LineSplitter();
    expect(s.push("ab")).toEqual([]);
    expect(s.push("c\r\nd\ne")).toEqual([{ text: "abc" }, { text: "d" }]);
    const euro = new TextEncoder().encode("€\n");
    expect(s.push(euro.slice(0, 1))).toEqual([]);
    expect(s.push(euro.slice(1))).toEqual([{ text: "e€" }]);
    expect(s.push("tail")).toEqual([]);
    expect(s.flush()).toEqual([{ text: "tail" }]);
    expect(s.flush()).toEqual([]);
  });
  test("very long lines are cut into marked pieces with bounded buffer", () => {
    const s = new LineSplitter(10);
    const out = [...s.push("0123456789abcdefghij"), ...s.push("XY\nnext\n")];
    expect(out).toEqual([
      { text: "0123456789", part: { index: 1, last: false } },
      { text: "abcdefghij", part: { index: 2, last: false } },
      { text: "XY", part: { index: 3, last: true } },
      { text: "next" },
    ]);
  });
  test("tagLine: JSON objects stay JSON with proc added; other lines are wrapped", () => {
    expect(tagLine("ai", "stdout", { text: '{"level":"info","msg":"x"}' }, now)).toBe(
      '{"proc":"ai","level":"info","msg":"x"}',
    );
    expect(tagLine("ai", "stdout", { text: '{"proc":"other"}' }, now)).toBe('{"proc":"other"}');
    expect(tagLine("ai", "stdout", { text: "{}" }, now)).toBe('{"proc":"ai"}');
    expect(JSON.parse(tagLine("ai", "stderr", { text: "{not json}" }, now))).toEqual({
      level: "error",
      time: now.toISOString(),
      proc: "ai",
      stream: "stderr",
      msg: "{not json}",
    });
    expect(JSON.parse(tagLine("ai", "stdout", { text: "[1,2]" }, now)).msg).toBe("[1,2]");
    expect(
      JSON.parse(tagLine("ai", "stdout", { text: "abc", part: { index: 2, last: true } }, now)),
    ).toMatchObject({
      part: 2,
      lastPart: true,
      level: "info",
    });
  });
  test("prettyLine: time, a coloured name | prefix, the message and a few key fields (no JSON tail)", () => {
    const strip = (x: string) => x.replace(/\x1b\[[0-9;]*m/g, "");
    const l = prettyLine("ai", "stdout", { text: '{"level":"info","msg":"hello","port":3}' }, 0, 7);
    expect(l).toContain("\x1b[36mai      |");
    const time = "2026-12-04T18:27:12.345Z";
    const wide = JSON.stringify({
      level: "warn",
      time,
      proc: "supervisor",
      event: "child_exit",
      msg: "gateway killed by SIGKILL; restarting in 100 ms",
      uptimeMs: 5123,
      child: "gateway",
      pid: 4242,
      code: null,
      signal: "SIGKILL",
      action: "restart",
      nextDelayMs: 100,
      restarts: 2,
      lastLines: ["x".repeat(300)],
    });
    expect(strip(prettyLine("supervisor", "stdout", { text: wide }, 3, 10))).toBe(
      "18:27:12.345 supervisor | warn gateway killed by SIGKILL; restarting in 100 ms child=gateway pid=4242 signal=SIGKILL action=restart nextDelayMs=100 +3",
    );
    const long = JSON.stringify({
      level: "error",
      time,
      msg: "boom",
      reason: "y".repeat(200),
      err: { message: "bad thing" },
    });
    const out = strip(prettyLine("sync", "stderr", { text: long }, 1, 4));
    expect(out).toBe(`18:27:12.345 sync | error boom reason=${"y".repeat(79)}… err="bad thing"`);
    expect(strip(prettyLine("web", "stdout", { text: "plain text" }, 2, 3, undefined, new Date(time)))).toBe(
      "18:27:12.345 web | plain text",
    );
  });
  test("tagLine/prettyLine with a Redactor: credential-named fields redacted, the line stays JSON", () => {
    const r = new Redactor();
    const text = JSON.stringify({
      level: "info",
      msg: "m",
      token: "t0ken-value",
      nested: { Authorization: "x" },
    });
    const tagged = JSON.parse(tagLine("gw", "stdout", { text }, now, r));
    expect(tagged).toEqual({
      proc: "gw",
      level: "info",
      msg: "m",
      token: REDACTED,
      nested: { Authorization: REDACTED },
    });
    // Lines without such a field are passed through byte for byte (no re-serialization).
    const plain = '{"level":"info","msg":"usage","input_tokens":12, "n":1.0}';
    expect(tagLine("ai", "stdout", { text: plain }, now, r)).toBe(`{"proc":"ai",${plain.slice(1)}`);
    expect(prettyLine("gw", "stdout", { text }, 0, 2, r)).not.toContain("t0ken-value");
    expect(hasSecretField({ a: [{ signature: "s" }] })).toBe(true);
    expect(hasSecretField({ token: REDACTED, password: "", apiKey: null })).toBe(false);
  });
});
