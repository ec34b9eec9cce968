import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { onStopSignals, type StopReason } from "./stop-signals.ts";

describe("onStopSignals", () => {
  test("first SIGTERM/SIGINT is graceful, the second forceful, later ones ignored", () => {
    const calls: string[] = [];
    const off = onStopSignals({
      graceful: (r) => calls.push(`graceful ${r}`),
      force: (r) => calls.push(`force ${r}`),
    });
    try {
      process.emit("SIGINT", "SIGINT");
      process.emit("SIGTERM", "SIGTERM");
      process.emit("SIGTERM", "SIGTERM");
    } finally {
      off();
    }
    expect(calls).toEqual(["graceful SIGINT", "force SIGTERM"]);
  });

  test("with PIPBOT_PARENT_WATCH=stdin, the pipe's end (parent died) stops gracefully, then forcefully", async () => {
    const pipe = new PassThrough();
    const calls: StopReason[] = [];
    const forced = Promise.withResolvers<void>();
    const off = onStopSignals(
      {
        graceful: (r) => calls.push(r),
        force: (r) => {
          calls.push(r);
          forced.resolve();
        },
      },
      { env: { PIPBOT_PARENT_WATCH: "stdin" }, parentPipe: pipe, parentDeathForceMs: 1 },
    );
    try {
      pipe.write("ignored bytes");
      expect(calls).toEqual([]);
      pipe.end();
      await forced.promise;
    } finally {
      off();
    }
    expect(calls).toEqual(["parent_exit", "parent_exit"]);
  });

  test("without the variable, the pipe is not watched", () => {
    const pipe = new PassThrough();
    const calls: StopReason[] = [];
    const off = onStopSignals(
      { graceful: (r) => calls.push(r), force: (r) => calls.push(r) },
      { env: {}, parentPipe: pipe },
    );
    pipe.destroy();
    off();
    expect(calls).toEqual([]);
  });
});

describe("one owner of stop signals", () => {
  // Every long-running process (the supervisor and what it runs) stops the same way. The chat
  // client is interactive (Ctrl-C aborts the current reply) and is not one of them.
  const mains = ["supervisor", "ai-server", "sync", "gateway", "dev"];
  test.each(mains)("src/%s/main.ts installs its handlers with onStopSignals only", (dir) => {
    const text = readFileSync(join(import.meta.dir, "..", dir, "main.ts"), "utf8");
    expect(text).toContain("onStopSignals(");
    expect(text).not.toMatch(/process\.(on|once|addListener)\(\s*"SIG(TERM|INT)"/);
  });
});
