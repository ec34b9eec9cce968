/**
 * Restarts against REAL child processes: backoff delays grow, a crash loop stops everything with
 * the child's exit code, `--only` and `--procfile`, and child output tagging end to end.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { waitFor } from "../helpers/index.ts";
import {
  crashCmd,
  exitLines,
  FIXTURES,
  isAlive,
  serverCmd,
  supervisorRuns,
  waitForEvent,
} from "./helpers.ts";

const run = supervisorRuns();

describe("pipbot start: restarts", () => {
  test("a crashing child is restarted with growing delays (100, 200, 400, capped 400)", async () => {
    const { s, p } = await run(
      ({ events, dir }) => [`worker: ${crashCmd(events, dir, "--code 5 --first-uptime 400")}`],
      {
        SUPERVISOR_READY_UPTIME_MS: "200",
        SUPERVISOR_BACKOFF_INITIAL_MS: "100",
        SUPERVISOR_BACKOFF_MAX_MS: "400",
        SUPERVISOR_CRASH_LOOP_RESTARTS: "50",
      },
    );
    await waitFor(() => exitLines(p, "worker").length >= 5, { timeoutMs: 30_000, what: "five worker exits" });
    const exits = exitLines(p, "worker").slice(0, 5);
    expect(exits.map((r) => r.nextDelayMs)).toEqual([100, 200, 400, 400, 400]);
    expect(exits.map((r) => r.action)).toEqual(["restart", "restart", "restart", "restart", "restart"]);
    expect(exits.map((r) => r.code)).toEqual([5, 5, 5, 5, 5]);
    expect(exits.map((r) => r.restarts)).toEqual([0, 1, 2, 3, 4]);
    for (const r of exits) {
      expect(typeof r.pid).toBe("number");
      expect(typeof r.uptimeMs).toBe("number");
    }
    // The gaps between starts are at least the announced delays.
    const starts = s
      .readEvents()
      .filter((e) => e[0] === "start")
      .map((e) => Number(e[4]));
    for (let i = 0; i < 4; i++)
      expect(starts[i + 1]! - starts[i]!).toBeGreaterThanOrEqual(Number(exits[i]!.nextDelayMs));
    // A requested stop while a restart is pending still exits 0.
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  }, 60_000);

  test("the backoff resets after a stable uptime: the next crash restarts fast again", async () => {
    // Runs 1-3 crash quickly (delays grow), run 4 stays up past SUPERVISOR_STABLE_MS, run 5 crashes.
    const { p } = await run(
      ({ events, dir }) => [`worker: ${crashCmd(events, dir, "--code 5 --uptimes 300,0,0,2500,0")}`],
      {
        SUPERVISOR_READY_UPTIME_MS: "200",
        SUPERVISOR_BACKOFF_INITIAL_MS: "100",
        SUPERVISOR_STABLE_MS: "1500",
        SUPERVISOR_CRASH_LOOP_RESTARTS: "50",
      },
    );
    await waitFor(() => exitLines(p, "worker").length >= 5, { timeoutMs: 30_000, what: "five worker exits" });
    const exits = exitLines(p, "worker").slice(0, 5);
    expect(exits.map((r) => r.nextDelayMs)).toEqual([100, 200, 400, 100, 200]);
    expect(Number(exits[3]?.uptimeMs)).toBeGreaterThanOrEqual(1500);
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  }, 60_000);

  test("a child killed by a signal: the supervisor exits 128+signal", async () => {
    const { p } = await run(({ events, dir }) => [`worker: ${crashCmd(events, dir, "--signal SIGKILL")}`], {
      SUPERVISOR_READY_UPTIME_MS: "5000",
    });
    expect(await p.exited).toBe(137);
    expect(exitLines(p, "worker")[0]).toMatchObject({
      signal: "SIGKILL",
      code: null,
      action: "startup_failure",
    });
    expect(p.records().find((r) => r.event === "supervisor_failure")?.exitCode).toBe(137);
  }, 60_000);

  test("crash loop: more than K restarts within the window stops everything, exit = child's code", async () => {
    const { s, p } = await run(
      ({ events, dir }) => [
        `ai: ${serverCmd("ai", events)}`,
        `worker: ${crashCmd(events, dir, "--code 7 --first-uptime 300")}`,
      ],
      {
        SUPERVISOR_READY_UPTIME_MS: "200",
        SUPERVISOR_BACKOFF_INITIAL_MS: "50",
        SUPERVISOR_CRASH_LOOP_RESTARTS: "3",
        SUPERVISOR_CRASH_LOOP_WINDOW_MS: "60000",
      },
    );
    const code = await Promise.race([p.exited, Bun.sleep(30_000).then(() => "still running")]);
    expect(code).toBe(7);
    const exits = exitLines(p, "worker");
    expect(exits.map((r) => r.action)).toEqual(["restart", "restart", "restart", "crash_loop"]);
    // Bounded: K restarts = K+1 runs of the worker, and no further start after the crash loop.
    expect(s.readEvents().filter((e) => e[0] === "start" && e[1] === "crash")).toHaveLength(4);
    expect(p.records().filter((r) => r.event === "child_start" && r.child === "worker")).toHaveLength(4);
    const failure = p.records().find((r) => r.event === "supervisor_failure");
    expect(failure).toMatchObject({ child: "worker", exitCode: 7 });
    expect(String(failure?.msg)).toContain(
      "crash loop: exited with code 7, more than 3 restarts within 60000 ms",
    );
    // Detected inside the window: from the worker's first start to the stop, by the log's clock.
    const t = (r: Record<string, unknown> | undefined) => Date.parse(String(r?.time));
    const firstStart = p.records().find((r) => r.event === "child_start" && r.child === "worker");
    const done = p.records().find((r) => r.event === "shutdown_complete");
    expect(done?.exitCode).toBe(7);
    expect(t(done) - t(firstStart)).toBeLessThan(60_000);
    // The healthy process was stopped too.
    expect(exitLines(p, "ai")[0]?.action).toBe("stopped");
    for (const [what, , pid] of s.readEvents())
      if (what === "start") expect(isAlive(Number(pid))).toBe(false);
  }, 60_000);
});

describe("pipbot start: --only and --procfile", () => {
  test("--only runs a subset in dependency order", async () => {
    const { s, p } = await run(
      ({ events }) => [
        `gateway: ${serverCmd("gateway", events)}`,
        `ai: ${serverCmd("ai", events)}`,
        `sync: ${serverCmd("sync", events)}`,
      ],
      {},
      ["--only", "gateway,ai"],
    );
    await waitForEvent(p, "all_ready");
    expect(
      s
        .readEvents()
        .filter((e) => e[0] === "start")
        .map((e) => e[1]),
    ).toEqual(["ai", "gateway"]);
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  }, 60_000);

  test("--only with an unknown name is a usage error (exit 2) naming it", async () => {
    const { s, p } = await run(({ events }) => [`ai: ${serverCmd("ai", events)}`], {}, ["--only", "ai,nope"]);
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('unknown process "nope"');
    expect(p.output()).toContain("usage: pipbot start");
    expect(s.readEvents()).toEqual([]);
  }, 60_000);

  test("bad configuration of a known process: nothing starts, exit 78", async () => {
    const { s, p } = await run(
      ({ events }) => [`ai: ${serverCmd("ai", events)}`, `gateway: ${serverCmd("gateway", events)}`],
      { GATEWAY_HOST: "0.0.0.0", AI_MAX_RETRIES: "many" },
    );
    expect(await p.exited).toBe(78);
    expect(p.output()).toContain("pipbot start: not starting anything");
    expect(p.output()).toContain("AI_MAX_RETRIES");
    expect(p.output()).toContain("CLAWDBOT_GATEWAY_TOKEN");
    expect(s.readEvents()).toEqual([]);
  }, 60_000);

  test("a bad Procfile is reported with its line numbers (exit 78)", async () => {
    const { p } = await run(() => ["this is not a process line", "web:"]);
    expect(await p.exited).toBe(78);
    expect(p.output()).toContain("Procfile:3: expected");
    expect(p.output()).toContain('Procfile:4: process "web" has no command');
  }, 60_000);
});

describe("pipbot start: child output", () => {
  test("JSON stays JSON (proc added), plain lines wrapped, split/partial/long lines kept", async () => {
    const { p } = await run(() => [`out: bun ${join(FIXTURES, "output.ts")}`], {
      SUPERVISOR_READY_UPTIME_MS: "200",
    });
    await waitFor(() => p.output().includes("after long line"), { what: "output after the long line" });
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    // Every line the supervisor printed is valid JSON.
    const lines = p.output().split("\n").filter(Boolean);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    const recs = p.records().filter((r) => r.proc === "out" || r.proc === "custom");
    const byMsg = (m: string) => recs.find((r) => r.msg === m);
    expect(byMsg("json without proc")).toMatchObject({ proc: "out", level: "info", n: 1 });
    expect(byMsg("json with proc")).toMatchObject({ proc: "custom", level: "warn" });
    expect(byMsg("plain stdout line")).toMatchObject({ proc: "out", stream: "stdout", level: "info" });
    expect(byMsg("plain stderr line")).toMatchObject({ proc: "out", stream: "stderr", level: "error" });
    expect(byMsg("split across writes")).toBeDefined();
    // The 150 001-character line arrives in marked pieces of at most 64 KiB, nothing lost.
    const parts = recs.filter((r) => typeof r.part === "number");
    expect(parts.map((r) => r.part)).toEqual([1, 2, 3]);
    expect(parts.at(-1)?.lastPart).toBe(true);
    for (const r of parts) expect(String(r.msg).length).toBeLessThanOrEqual(64 * 1024);
    expect(parts.map((r) => r.msg).join("")).toBe(`${"x".repeat(150_000)}y`);
    // The final partial line (no newline) is flushed when the child exits.
    expect(byMsg("partial without newline")).toMatchObject({ proc: "out" });
  }, 60_000);
});
