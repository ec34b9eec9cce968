/**
 * The Supervisor state machine with injected fakes (spawn, kill, clock): the shutdown plan is
 * checked on a virtual clock, so the budget arithmetic is exact and the test takes no real time.
 */
import { describe, expect, test } from "bun:test";
import { createLogger, memoryDestination } from "../../src/shared/log.ts";
import type { ExitStatus } from "../../src/supervisor/policy.ts";
import { type ChildHandle, type Clock, Supervisor } from "../../src/supervisor/supervisor.ts";

const tick = () => new Promise<void>((r) => setImmediate(r));

class FakeClock implements Clock {
  t = 0;
  private timers: { at: number; res: () => void }[] = [];
  now() {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal) {
    return new Promise<void>((res) => {
      if (signal?.aborted) return res();
      const timer = { at: this.t + ms, res };
      this.timers.push(timer);
      signal?.addEventListener("abort", () => {
        this.timers = this.timers.filter((x) => x !== timer);
        res();
      });
    });
  }
  /** Move virtual time forward, firing due timers in order and letting the code react. */
  async advance(ms: number) {
    const target = this.t + ms;
    for (;;) {
      await tick();
      const due = this.timers.filter((x) => x.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.res();
    }
    this.t = target;
    await tick();
  }
}

interface FakeChild {
  name: string;
  pid: number;
  exit(s: ExitStatus): void;
  done: boolean;
}

function harness(names: string[], opts: { ignoreTerm?: string[]; budgetMs?: number; graceMs?: number } = {}) {
  const clock = new FakeClock();
  const children: FakeChild[] = [];
  const kills: { t: number; name: string; sig: string }[] = [];
  let nextPid = 100;
  const mem = memoryDestination();
  const sup = new Supervisor({
    processes: names.map((name, i) => ({
      entry: { name, command: name, line: i + 1 },
      check: { kind: "uptime", ms: 0 },
    })),
    settings: {
      readyTimeoutMs: 1000,
      shutdownBudgetMs: opts.budgetMs ?? 1000,
      graceMs: opts.graceMs ?? 800,
      backoff: { initialMs: 100, maxMs: 1000, stableMs: 10_000 },
      crashLoop: { maxRestarts: 5, windowMs: 60_000 },
    },
    spawn: ({ name }): ChildHandle => {
      let exit!: (s: ExitStatus) => void;
      const exited = new Promise<ExitStatus>((r) => {
        exit = r;
      });
      const c: FakeChild = {
        name,
        pid: nextPid++,
        done: false,
        exit: (s) => {
          c.done = true;
          exit(s);
        },
      };
      children.push(c);
      return { pid: c.pid, stdout: null, stderr: null, exited };
    },
    killGroup: (pid, sig) => {
      const c = children.find((x) => x.pid === pid)!;
      kills.push({ t: clock.now(), name: c.name, sig });
      if (c.done) return;
      if (sig === "SIGKILL") c.exit({ code: null, signal: "SIGKILL" });
      else if (!opts.ignoreTerm?.includes(c.name)) c.exit({ code: 0, signal: null });
    },
    clock,
    fetch: async () => ({ status: 200 }),
    output: () => {},
    logger: createLogger({ proc: "supervisor", destination: mem }),
  });
  return { sup, clock, children, kills, mem };
}

describe("Supervisor shutdown plan (virtual clock)", () => {
  test("reverse order; each child gets min(grace, budget left); past the budget only SIGKILL", async () => {
    const h = harness(["ai", "sync", "gateway"], {
      ignoreTerm: ["ai", "sync", "gateway"],
      budgetMs: 1000,
      graceMs: 800,
    });
    const code = h.sup.run();
    await h.clock.advance(0);
    expect(h.sup.status).toBe("running");
    h.sup.requestStop("SIGTERM");
    await h.clock.advance(5000);
    expect(await code).toBe(0);
    // gateway: TERM at 0, KILL at 800; sync: TERM at 800, KILL at 1000 (only 200 ms left);
    // ai: never TERM'd (budget spent), KILLed in the final sweep at 1000.
    expect(h.kills).toEqual([
      { t: 0, name: "gateway", sig: "SIGTERM" },
      { t: 800, name: "gateway", sig: "SIGKILL" },
      { t: 800, name: "sync", sig: "SIGTERM" },
      { t: 1000, name: "sync", sig: "SIGKILL" },
      // final sweep of every process group
      { t: 1000, name: "ai", sig: "SIGKILL" },
      { t: 1000, name: "sync", sig: "SIGKILL" },
      { t: 1000, name: "gateway", sig: "SIGKILL" },
    ]);
    expect(h.kills.some((k) => k.name === "ai" && k.sig === "SIGTERM")).toBe(false);
  });

  test("children that stop on SIGTERM are stopped one after the other, then every group is swept", async () => {
    const h = harness(["ai", "sync", "gateway"]);
    const code = h.sup.run();
    await h.clock.advance(0);
    h.sup.requestStop("SIGINT");
    await h.clock.advance(0);
    expect(await code).toBe(0);
    expect(h.kills.filter((k) => k.sig === "SIGTERM").map((k) => k.name)).toEqual(["gateway", "sync", "ai"]);
    // The final sweep SIGKILLs each group (grandchildren) even though the leaders exited.
    expect(
      h.kills
        .filter((k) => k.sig === "SIGKILL")
        .map((k) => k.name)
        .sort(),
    ).toEqual(["ai", "gateway", "sync"]);
  });

  test("a second request forces SIGKILL at once", async () => {
    const h = harness(["ai", "gateway"], { ignoreTerm: ["gateway"], budgetMs: 60_000, graceMs: 60_000 });
    const code = h.sup.run();
    await h.clock.advance(0);
    h.sup.requestStop("SIGTERM");
    await h.clock.advance(10);
    h.sup.requestStop("SIGTERM");
    await h.clock.advance(0);
    expect(await code).toBe(0);
    expect(h.kills.find((k) => k.name === "gateway" && k.sig === "SIGKILL")?.t).toBe(10);
    expect(h.mem.records().some((r) => r.event === "shutdown_forced")).toBe(true);
  });

  test("a crash after ready restarts after the backoff delay; a stop cancels a pending restart", async () => {
    const h = harness(["worker"]);
    const code = h.sup.run();
    await h.clock.advance(0);
    h.children[0]!.exit({ code: 2, signal: null });
    await h.clock.advance(99);
    expect(h.children).toHaveLength(1);
    await h.clock.advance(1);
    expect(h.children).toHaveLength(2);
    h.children[1]!.exit({ code: 2, signal: null });
    await h.clock.advance(100);
    expect(h.children).toHaveLength(2); // second delay is 200 ms
    h.sup.requestStop("SIGTERM");
    await h.clock.advance(1000);
    expect(h.children).toHaveLength(2);
    expect(await code).toBe(0);
    const exits = h.mem.records().filter((r) => r.event === "child_exit");
    expect(exits.map((r) => r.nextDelayMs)).toEqual([100, 200]);
  });
});
