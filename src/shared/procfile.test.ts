/** Procfile parsing, start order, --only selection and the argv each line runs as. */
import { describe, expect, test } from "bun:test";
import { commandArgv, ProcfileError, parseProcfile, selectProcesses, startOrder } from "./procfile.ts";

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
