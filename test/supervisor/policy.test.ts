/** Unit tests of the supervisor's pure policies: Procfile, backoff, crash-loop window, exit codes, output. */
import { describe, expect, test } from "bun:test";
import {
  commandArgv,
  ProcfileError,
  parseProcfile,
  selectProcesses,
  startOrder,
} from "../../src/shared/procfile.ts";
import { REDACTED, Redactor } from "../../src/shared/redact.ts";
import { hasSecretField, LineSplitter, prettyLine, tagLine } from "../../src/supervisor/output.ts";
import { Backoff, CrashLoopWindow, failureExitCode } from "../../src/supervisor/policy.ts";
import { reachableHost, readinessFor } from "../../src/supervisor/readiness.ts";

describe("Procfile", () => {
  test("parses name: command lines, skipping comments and blanks", () => {
    const e = parseProcfile("# c\n\nweb: bun a.ts --x 1\n  worker :  sh -c 'echo hi'  \r\n");
    expect(e).toEqual([
      { name: "web", command: "bun a.ts --x 1", line: 3 },
      { name: "worker", command: "sh -c 'echo hi'", line: 4 },
    ]);
  });
  test("collects every problem with line numbers", () => {
    let err: unknown;
    try {
      parseProcfile("ok: x\nbad line\nok: y\n$x: z\nempty:\n", "P");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProcfileError);
    const msg = (err as Error).message;
    expect(msg).toContain("P:2: expected");
    expect(msg).toContain('P:3: process "ok" is defined twice');
    expect(msg).toContain('P:4: invalid process name "$x"');
    expect(msg).toContain('P:5: process "empty" has no command');
  });
  test("an empty Procfile is an error", () => {
    expect(() => parseProcfile("# nothing\n")).toThrow("no processes");
  });
  test("start order: ai, sync, gateway, then others in file order", () => {
    const e = parseProcfile("web: a\ngateway: b\nsync: c\nz: d\nai: e\n");
    expect(startOrder(e).map((x) => x.name)).toEqual(["ai", "sync", "gateway", "web", "z"]);
  });
  test("--only selects a subset and rejects unknown names", () => {
    const e = parseProcfile("ai: a\nsync: b\ngateway: c\n");
    expect(selectProcesses(e, ["gateway", "ai"]).map((x) => x.name)).toEqual(["ai", "gateway"]);
    expect(selectProcesses(e, undefined)).toHaveLength(3);
    expect(() => selectProcesses(e, ["ai", "web", "x"])).toThrow('unknown processes "web", "x"');
  });
  test("every line runs under /bin/sh -c, like foreman (exec lines make the shell the process)", () => {
    expect(commandArgv("exec bun src/cli.ts gateway")).toEqual([
      "/bin/sh",
      "-c",
      "exec bun src/cli.ts gateway",
    ]);
    expect(commandArgv("a && b")).toEqual(["/bin/sh", "-c", "a && b"]);
    expect(commandArgv("FOO=1 bun x")).toEqual(["/bin/sh", "-c", "FOO=1 bun x"]);
  });
  test("without a shell (an image that has none): plain lines run directly, `exec` dropped; shell syntax refused", () => {
    expect(commandArgv("exec bun src/cli.ts gateway", null)).toEqual(["bun", "src/cli.ts", "gateway"]);
    expect(commandArgv("bun src/cli.ts ai", null)).toEqual(["bun", "src/cli.ts", "ai"]);
    expect(() => commandArgv("a && b", null)).toThrow("needs a shell, and this system has no /bin/sh");
    expect(() => commandArgv("FOO=1 bun x", null)).toThrow(ProcfileError);
  });
});

describe("readiness", () => {
  const env = {
    AI_HOST: "::",
    AI_PORT: 3001,
    SYNC_STATUS_PORT: 18791,
    GATEWAY_HOST: "0.0.0.0",
    GATEWAY_PORT: 18788,
    SUPERVISOR_READY_UPTIME_MS: 500,
  };
  test("known processes use their health endpoints; wildcard binds are polled on loopback", () => {
    expect(readinessFor("ai", env)).toEqual({
      kind: "http",
      url: "http://127.0.0.1:3001/healthz",
      instance: true,
    });
    expect(readinessFor("sync", env)).toEqual({
      kind: "http",
      url: "http://127.0.0.1:18791/healthz",
      instance: true,
    });
    expect(readinessFor("gateway", env)).toEqual({
      kind: "http",
      url: "http://127.0.0.1:18788/healthz",
      instance: true,
    });
    expect(readinessFor("web", env)).toEqual({ kind: "uptime", ms: 500 });
    expect(reachableHost("::1")).toBe("[::1]");
    expect(reachableHost("10.0.0.2")).toBe("10.0.0.2");
  });
});

describe("Backoff", () => {
  test("first retry fast, doubling, capped, reset after a stable uptime", () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, stableMs: 30_000 });
    expect([b.next(10), b.next(10), b.next(10), b.next(10), b.next(10), b.next(10)]).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    expect(b.next(30_000)).toBe(100);
    expect(b.next(5)).toBe(200);
  });
});

describe("CrashLoopWindow", () => {
  test("more than K restarts inside the window is a crash loop; old restarts fall out", () => {
    const w = new CrashLoopWindow({ maxRestarts: 3, windowMs: 1000 });
    expect([w.record(0), w.record(100), w.record(200)]).toEqual([false, false, false]);
    expect(w.record(300)).toBe(true);
    // At t=1050 the restart at 0 has left the window: one more is allowed.
    expect(w.record(1050)).toBe(false);
    expect(w.count(1050)).toBe(3);
    expect(w.record(1060)).toBe(true);
  });
});

describe("exit codes", () => {
  test("the failing child's code, 128+signal, never 0", () => {
    expect(failureExitCode({ code: 7, signal: null })).toBe(7);
    expect(failureExitCode({ code: null, signal: "SIGKILL" })).toBe(137);
    expect(failureExitCode({ code: null, signal: "SIGSEGV" })).toBe(139);
    expect(failureExitCode({ code: 0, signal: null })).toBe(1);
    expect(failureExitCode(null)).toBe(1);
  });
});

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
