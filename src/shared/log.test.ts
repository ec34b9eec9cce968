import { describe, expect, test } from "bun:test";
import { createLogger, memoryDestination } from "./log.ts";
import { Redactor } from "./redact.ts";

const SECRET = "tok_9f8e7d6c5b4a3210";
// Key-shaped FAKE values, built at runtime so secret scanners do not mistake them for real keys.
const FAKE_ANTHROPIC = ["sk", "ant", "api03", "A".repeat(16)].join("-");
const FAKE_GOOGLE = `${"AI"}za${"SyA"}${"1234567890".repeat(3)}1`;

function capture(secrets: string[] = [SECRET]) {
  const dest = memoryDestination();
  const log = createLogger({ proc: "test", destination: dest, secrets, level: "debug" });
  return { log, dest };
}

describe("logging", () => {
  test("every line is JSON with proc", () => {
    const { log, dest } = capture();
    log.info("hello");
    log.child({ run: 1 }).warn({ a: 1 }, "x");
    const recs = dest.records();
    expect(recs).toHaveLength(2);
    for (const r of recs) expect(r.proc).toBe("test");
  });

  test("secrets are redacted by key and by value, in every form", () => {
    const { log, dest } = capture();
    log.info(
      {
        headers: { Authorization: `Bearer ${SECRET}`, "x-api-key": "abc-key-123", "x-goog-api-key": "k" },
        config: { CLAWDBOT_GATEWAY_TOKEN: SECRET, nested: { password: "p4ssw0rd!", signature: "v1=abcdef" } },
        url: `https://example.test/x?token=${encodeURIComponent(SECRET)}&a=1`,
        encoded: Buffer.from(SECRET).toString("base64"),
        note: `the token is ${SECRET}`,
      },
      `message mentioning ${SECRET} and ${FAKE_ANTHROPIC}`,
    );
    log.error({ err: new Error(`upstream said ${SECRET} was wrong`) }, "failed");
    const text = dest.lines.join("");
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(Buffer.from(SECRET).toString("base64"));
    expect(text).not.toContain("abc-key-123");
    expect(text).not.toContain("p4ssw0rd!");
    expect(text).not.toContain("v1=abcdef");
    expect(text).not.toContain(FAKE_ANTHROPIC);
    expect(text).toContain("[REDACTED]");
    // Non-secret content survives.
    expect(text).toContain("message mentioning");
    expect(text).toContain("upstream said");
    for (const l of dest.lines) JSON.parse(l);
  });

  test("string fields are scrubbed in the serialized line: nested, in arrays, with characters JSON escapes", () => {
    const odd = 'pa"ss\\w\nord-9876';
    const { log, dest } = capture([odd]);
    log.info({ deep: { list: [`a ${odd} b`], more: { s: odd } }, err: new Error(`bad ${odd}`) }, `m ${odd}`);
    const text = dest.lines.join("");
    expect(text).not.toContain(JSON.stringify(odd).slice(1, -1));
    expect(text).not.toContain("9876");
    expect(text.match(/\[REDACTED\]/g)?.length).toBeGreaterThanOrEqual(4);
    for (const l of dest.lines) JSON.parse(l);
  });

  test("secrets registered after creation (e.g. a generated token) are redacted too", () => {
    const { log, dest } = capture([]);
    log.redactor.add(["generated-token-xyz"]);
    log.info({ msg2: "generated-token-xyz" }, "url http://127.0.0.1:18789/#token=generated-token-xyz");
    expect(dest.lines.join("")).not.toContain("generated-token-xyz");
  });

  test("token counts are not credentials: input_tokens, max_tokens, tokens stay readable", () => {
    const { log, dest } = capture([]);
    log.info(
      { usage: { input_tokens: 12, output_tokens: 3, tokens: 15 }, max_tokens: 100, token: "t0k3n-v4lue" },
      "u",
    );
    const rec = dest.records()[0] as { usage: Record<string, number>; max_tokens: number; token: string };
    expect(rec.usage).toEqual({ input_tokens: 12, output_tokens: 3, tokens: 15 });
    expect(rec.max_tokens).toBe(100);
    expect(rec.token).toBe("[REDACTED]");
  });

  test("bearer credentials and key-shaped strings are redacted even when unknown", () => {
    const r = new Redactor();
    expect(r.string("Authorization: Bearer abcdefghijkl")).not.toContain("abcdefghijkl");
    expect(r.string(`key ${FAKE_GOOGLE}`)).not.toContain(FAKE_GOOGLE.slice(0, 8));
    expect(r.string("plain words stay")).toBe("plain words stay");
  });
});
