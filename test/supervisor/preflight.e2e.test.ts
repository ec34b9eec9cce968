/**
 * Issue 11 finding 4: start-up fails fast and clearly when two ports collide (exit 78), when a port
 * is already taken — even by something that answers /healthz — (exit 69), and when another runtime
 * uses the same DATA_DIR (exit 69); a lock left by a killed supervisor is taken over. Before the
 * fix a busy port printed "ready" (someone else's /healthz answered) and then crash-looped, and a
 * collision was accepted by validation.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../helpers/index.ts";
import {
  killSupervisorTree,
  type Running,
  type Scenario,
  scenario,
  serverCmd,
  startSupervisor,
} from "./helpers.ts";

let cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function fixtureRuntime(): Promise<Scenario> {
  const s = await scenario(({ events }) => [
    `ai: ${serverCmd("ai", events)}`,
    `gateway: ${serverCmd("gateway", events)}`,
    "idle: exec sleep 300",
  ]);
  cleanups.push(s.cleanup);
  return s;
}

function start(s: Scenario, env: Record<string, string> = {}): Running {
  const p = startSupervisor(s, { SUPERVISOR_READY_UPTIME_MS: "100", ...env });
  cleanups.push(() => killSupervisorTree(p));
  return p;
}

function expectNothingStarted(s: Scenario, p: Running) {
  expect(p.records().filter((r) => r.event === "child_start")).toEqual([]);
  expect(s.readEvents()).toEqual([]);
  expect(p.output()).not.toMatch(/\bready\b/);
  expect(p.output()).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m); // no stack trace
}

describe("pipbot start: preflight", () => {
  test("GATEWAY_PORT equal to AI_PORT: one message naming both, exit 78, nothing started", async () => {
    const s = await fixtureRuntime();
    const p = start(s, { GATEWAY_PORT: s.ports.AI_PORT });
    expect(await p.exited).toBe(78);
    expect(p.output()).toContain(
      `AI_PORT and GATEWAY_PORT are both ${s.ports.AI_PORT}: ai and gateway cannot share a port`,
    );
    expectNothingStarted(s, p);
  }, 60_000);

  test("a port already taken by something answering /healthz: exit 69 naming it, never 'ready'", async () => {
    const s = await fixtureRuntime();
    const squatter = Bun.serve({
      hostname: "127.0.0.1",
      port: Number(s.ports.GATEWAY_PORT),
      fetch: () => Response.json({ ok: true }),
    });
    cleanups.push(() => squatter.stop(true));
    const p = start(s);
    expect(await p.exited).toBe(69);
    expect(p.output()).toContain(
      `port ${s.ports.GATEWAY_PORT} (GATEWAY_PORT, the gateway process) on 127.0.0.1 is already in use`,
    );
    expect(p.output()).toContain("Fix: stop it, or set GATEWAY_PORT to a free port");
    expectNothingStarted(s, p);
    // The lock was released: a start after the port is free works.
    expect(existsSync(join(s.dir, "supervisor.lock"))).toBe(false);
  }, 60_000);

  test("a second runtime on the same DATA_DIR: exit 69 naming the first one's pid; a killed one's lock is taken over", async () => {
    const s = await fixtureRuntime();
    const first = start(s);
    await waitFor(() => first.records().find((r) => r.event === "all_ready"), {
      timeoutMs: 20_000,
      what: "first runtime ready",
    });
    // Other ports, same DATA_DIR.
    const other = await fixtureRuntime();
    const second = startSupervisor(
      { ...other, dir: s.dir },
      { SUPERVISOR_READY_UPTIME_MS: "100", DATA_DIR: s.dir },
    );
    cleanups.push(() => killSupervisorTree(second));
    expect(await second.exited).toBe(69);
    expect(second.output()).toContain(
      `DATA_DIR ${s.dir} is in use by another pipbot runtime (supervisor pid ${first.proc.pid}`,
    );
    expect(second.records().filter((r) => r.event === "child_start")).toEqual([]);

    // SIGKILL the first (its lock stays behind, stale): the next start takes it over.
    await killSupervisorTree(first);
    const third = startSupervisor(
      { ...other, dir: s.dir },
      { SUPERVISOR_READY_UPTIME_MS: "100", DATA_DIR: s.dir },
    );
    cleanups.push(() => killSupervisorTree(third));
    await waitFor(() => third.records().find((r) => r.event === "all_ready"), {
      timeoutMs: 20_000,
      what: "third runtime ready",
    });
    const stale = third.records().find((r) => r.event === "stale_lock");
    expect((stale?.holder as { pid: number } | undefined)?.pid).toBe(first.proc.pid);
    third.kill("SIGTERM");
    expect(await third.exited).toBe(0);
    expect(existsSync(join(s.dir, "supervisor.lock"))).toBe(false);
  }, 60_000);

  test("readiness accepts only our child's answer: a stranger answering /healthz on the port never makes a restart 'ready'", async () => {
    // ai listens 3 s after it starts (it echoes its instance id, like the real processes).
    const s = await scenario(({ events }) => [`ai: ${serverCmd("ai", events, "--ready-delay 3000")}`]);
    cleanups.push(s.cleanup);
    const p = start(s, { SUPERVISOR_READY_TIMEOUT_MS: "10000", SUPERVISOR_BACKOFF_INITIAL_MS: "50" });
    await waitFor(() => p.records().find((r) => r.event === "all_ready"), {
      timeoutMs: 45_000,
      what: "ready",
    });
    const first = Number(p.records().find((r) => r.event === "child_start")?.pid);
    // It dies and a stranger takes its port, answering /healthz 200 while the restarted ai waits
    // its 3 s. Before the fix the restart was "ready again" at once; now it is not, and when it
    // finally tries to listen it finds the port taken and exits — never ready.
    process.kill(first, "SIGKILL");
    await waitFor(() => p.records().some((r) => r.event === "child_exit"), { what: "the exit" });
    const squatter = Bun.serve({
      hostname: "127.0.0.1",
      port: Number(s.ports.AI_PORT),
      fetch: () => Response.json({ ok: true }),
    });
    cleanups.push(() => squatter.stop(true));
    const second = await waitFor(
      () => p.records().find((r) => r.event === "child_start" && Number(r.pid) !== first),
      { timeoutMs: 30_000, what: "the restart" },
    );
    await waitFor(() => p.records().find((r) => r.event === "child_exit" && r.pid === second.pid), {
      timeoutMs: 45_000,
      what: "the restarted ai to exit (port taken)",
    });
    expect(p.records().filter((r) => r.event === "child_ready")).toHaveLength(1);
  }, 150_000);
});
