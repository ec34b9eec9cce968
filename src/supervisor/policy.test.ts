/** The supervisor's pure policies: restart backoff, crash-loop window, exit codes. */
import { describe, expect, test } from "bun:test";
import { Backoff, CrashLoopWindow, failureExitCode } from "./policy.ts";

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
