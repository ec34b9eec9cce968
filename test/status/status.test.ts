/**
 * `pipbot status` as a real child process: against a real `pipbot start` runtime (AI server on the
 * upstream simulator, sync worker, gateway; free ports, temp DATA_DIR), against nothing, against a
 * server that accepts connections and never answers, and its usage errors.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { startUpstreamSim } from "../../src/dev/upstream-sim.ts";
import { MIGRATIONS } from "../../src/shared/store/migrations.ts";
import type { StatusReport } from "../../src/status/render.ts";
import { childEnv, freePort, type RunningProcess, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { killSupervisorTree } from "../supervisor/helpers.ts";

let cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function ports() {
  return {
    AI_PORT: String(await freePort()),
    SYNC_STATUS_PORT: String(await freePort()),
    GATEWAY_PORT: String(await freePort()),
  };
}

/** Run `pipbot status …`; it must exit before `deadlineMs` (a deadline, not a timing assertion). */
async function status(args: string[], env: Record<string, string>, deadlineMs = 10_000) {
  const p = spawnPipbot(["status", ...args], env);
  cleanups.push(async () => {
    p.kill("SIGKILL");
    await p.exited;
  });
  let code: number | undefined;
  void p.exited.then((c) => {
    code = c;
  });
  await waitFor(() => code !== undefined, { timeoutMs: deadlineMs, what: "pipbot status to exit" });
  await p.exited;
  return { code: code as number, out: p.output() };
}

function ownSupervisor(p: RunningProcess) {
  cleanups.push(() => killSupervisorTree(p));
}

describe("pipbot status", () => {
  test("a real runtime: all three up and ready with their facts, exit 0; --json has the stable keys; no secret printed", async () => {
    const sim = await startUpstreamSim();
    const data = tempDir("pipbot-status-");
    cleanups.push(async () => {
      await sim.stop();
      data.cleanup();
    });
    const p = await ports();
    const env = childEnv({
      ...p,
      DATA_DIR: data.path,
      ANTHROPIC_BASE_URL: sim.url,
      ANTHROPIC_API_KEY: "sim-key-never-printed",
      AI_DEFAULT_MODEL: "anthropic/sim",
      PIPBOT_SIMULATOR: "1",
      AI_URL: `http://127.0.0.1:${p.AI_PORT}`,
      CLAWDBOT_GATEWAY_TOKEN: "test-gateway-token-123",
      SUPERVISOR_READY_TIMEOUT_MS: "30000",
      FLY_MACHINE_ID: "m-status-test",
      FLY_REGION: "ams",
    });
    const sup = spawnPipbot(["start"], env);
    ownSupervisor(sup);
    await waitFor(() => sup.records().find((r) => r.event === "all_ready"), {
      timeoutMs: 45_000,
      what: "all_ready",
    }).catch((e: Error) => {
      throw new Error(`${e.message}; the supervisor's output:\n${sup.output().slice(-4000)}`);
    });

    const human = await status([], env);
    expect({ code: human.code, out: human.out }).toEqual({ code: 0, out: expect.any(String) });
    const lines = human.out.trim().split("\n");
    expect(lines[0]).toStartWith("pipbot ");
    expect(lines[0]).toContain("machine m-status-test");
    expect(lines[0]).toContain("region ams");
    expect(lines[1]).toMatch(
      /^ai +up, ready +mode direct \(SIMULATOR\) · providers anthropic · default model anthropic\/sim/,
    );
    expect(lines[2]).toMatch(
      /^sync +up, ready +state disabled · pending 0 · oldest pending none · last success never · last error none · quarantined 0/,
    );
    // The gateway's /healthz facts: protocols served, clients, turns, AI as it sees it, Control UI, store schema.
    expect(lines[3]).toMatch(
      new RegExp(
        `^gateway +up, ready +protocol 3-4 · connections 0 · running turns 0 · AI server reachable · control UI off · store schema ${MIGRATIONS.at(-1)?.version} · http://127\\.0\\.0\\.1:${p.GATEWAY_PORT}$`,
      ),
    );
    // The supervisor's view: its pid, then each child's pid, state, uptime, restarts, last exit.
    expect(lines[4]).toStartWith(`supervisor  pid ${sup.proc.pid} running · up `);
    expect(lines[4]).toEndWith(`${data.path}/supervisor-status.json`);
    const pidOf = (name: string) =>
      Number(sup.records().findLast((r) => r.event === "child_start" && r.child === name)?.pid);
    for (const [i, name] of ["ai", "sync", "gateway"].entries())
      expect(lines[5 + i]).toMatch(
        new RegExp(`^  ${name} +pid ${pidOf(name)} · ready · up \\d+ (ms|s) · restarts 0 · last exit none$`),
      );
    expect(lines[8]).toBe("OK: 3 of 3 up and ready");
    for (const s of ["test-gateway-token-123", "sim-key-never-printed"]) expect(human.out).not.toContain(s);

    const json = await status(["--json"], env);
    expect(json.code).toBe(0);
    const r = JSON.parse(json.out) as StatusReport;
    expect(Object.keys(r)).toEqual(["ok", "checkedAt", "timeoutMs", "identity", "processes", "supervisor"]);
    expect(r.ok).toBe(true);
    expect(r.timeoutMs).toBe(2000);
    expect(r.identity).toMatchObject({ flyMachineId: "m-status-test", flyRegion: "ams", mode: "integrated" });
    expect(Object.keys(r.processes)).toEqual(["ai", "sync", "gateway"]);
    for (const proc of Object.values(r.processes))
      expect(Object.keys(proc ?? {})).toEqual(["up", "ready", "url", "reason", "failure", "facts"]);
    expect(r.processes.ai).toMatchObject({
      up: true,
      ready: true,
      url: `http://127.0.0.1:${p.AI_PORT}`,
      facts: { mode: "direct", providers: ["anthropic"], defaultModel: "anthropic/sim", simulator: true },
    });
    expect(r.processes.sync?.facts).toEqual({
      state: "disabled",
      pending: 0,
      oldestPendingAgeMs: null,
      lastSuccessAt: null,
      lastError: null,
      quarantined: 0,
      delivered: 0,
    });
    expect(r.processes.gateway).toMatchObject({
      up: true,
      ready: true,
      reason: null,
      facts: { readyReason: null },
    });
    for (const s of ["test-gateway-token-123", "sim-key-never-printed"]) expect(json.out).not.toContain(s);
    expect(r.supervisor).toMatchObject({ running: true, view: { pid: sup.proc.pid, state: "running" } });

    // A child killed: the supervisor restarts it, and status shows the restart and why.
    const syncPid = pidOf("sync");
    process.kill(syncPid, "SIGKILL");
    await waitFor(
      () => sup.records().some((r) => r.event === "child_ready" && r.child === "sync" && r.pid !== syncPid),
      { timeoutMs: 20_000, what: "sync restarted" },
    );
    const after = JSON.parse((await status(["--json"], env)).out) as StatusReport;
    const sync = after.supervisor?.view.children.find((c) => c.name === "sync");
    expect(sync).toMatchObject({
      pid: pidOf("sync"),
      state: "ready",
      restarts: 1,
      lastExit: { signal: "SIGKILL", code: null, action: "restart", reason: "killed by SIGKILL" },
    });
    expect((await status([], env)).out).toMatch(
      new RegExp(
        `^  sync +pid ${pidOf("sync")} · ready · up .+ · restarts 1 · last exit killed by SIGKILL .+ ago after .+ up \\(restart\\)$`,
        "m",
      ),
    );

    // Stopped: the file stays and says so; status names the supervisor as not running.
    sup.kill("SIGTERM");
    expect(await sup.exited).toBe(0);
    const stopped = await status([], env);
    expect(stopped.code).toBe(1);
    expect(stopped.out).toMatch(
      new RegExp(`^supervisor  NOT RUNNING \\(pid ${sup.proc.pid}, last stopped .+ ago\\)`, "m"),
    );
  }, 60_000);

  test("nothing running: every process down (connection refused), exit 1, finishes well before the deadline", async () => {
    const env = childEnv(await ports());
    const r = await status([], env, 10_000);
    expect(r.code).toBe(1);
    const lines = r.out.trim().split("\n");
    expect(lines.slice(1, 4).map((l) => l.split(/ {2,}/)[0])).toEqual(["ai", "sync", "gateway"]);
    for (const l of lines.slice(1, 4)) expect(l).toMatch(/DOWN +connection refused \(\/healthz\)/);
    expect(lines.at(-1)).toBe("NOT OK: ai down, sync down, gateway down");

    const j = await status(["--json"], env, 10_000);
    expect(j.code).toBe(1);
    const rep = JSON.parse(j.out) as StatusReport;
    expect(rep.ok).toBe(false);
    for (const p of Object.values(rep.processes)) expect(p).toMatchObject({ up: false, failure: "refused" });
  }, 60_000);

  test("a server that accepts connections but never answers (on the AI port): timeout, exit 1, the others still reported", async () => {
    const hang = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Promise<Response>(() => {}) });
    cleanups.push(() => {
      hang.stop(true);
    });
    const env = childEnv({ ...(await ports()), AI_PORT: String(hang.port) });
    const r = await status(["--timeout-ms", "300"], env, 10_000);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^ai +DOWN +timeout after 300 ms \(\/healthz\)/m);
    expect(r.out).toMatch(/^sync +DOWN +connection refused/m);
    expect(r.out).toMatch(/^gateway +DOWN +connection refused/m);

    const j = await status(["--json", "--timeout-ms", "300"], env, 10_000);
    const rep = JSON.parse(j.out) as StatusReport;
    expect(rep.processes.ai).toMatchObject({ up: false, ready: false, failure: "timeout" });
    expect(rep.processes.sync).toMatchObject({ up: false, failure: "refused" });
  }, 60_000);

  test("a real gateway alone whose AI server is not there: up, NOT READY with /readyz's reason, exit 1", async () => {
    const data = tempDir("pipbot-status-gw-");
    cleanups.push(() => data.cleanup());
    const p = await ports();
    const env = childEnv({
      ...p,
      DATA_DIR: data.path,
      AI_URL: `http://127.0.0.1:${p.AI_PORT}`,
      CLAWDBOT_GATEWAY_TOKEN: "test-gateway-token-456",
    });
    const gw = spawnPipbot(["gateway"], env);
    cleanups.push(async () => {
      gw.kill("SIGKILL");
      await gw.exited;
    });
    await waitFor(
      () =>
        fetch(`http://127.0.0.1:${p.GATEWAY_PORT}/healthz`)
          .then((r) => r.ok)
          .catch(() => false),
      { timeoutMs: 20_000, what: "gateway /healthz" },
    );
    const r = await status(["--only", "gateway"], env);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^gateway +up, NOT READY +HTTP 503: AI server not ready: .+ \(\/readyz\)/m);
    expect(r.out).toMatch(
      /^gateway +.* · running turns 0 · AI server UNREACHABLE for \d+ (ms|s) · control UI off · /m,
    );
    expect(r.out).not.toContain("test-gateway-token-456");
    const j = JSON.parse((await status(["--only", "gateway", "--json"], env)).out) as StatusReport;
    expect(j.processes.gateway).toMatchObject({ up: true, ready: false, failure: "http" });
    expect(
      String((j.processes.gateway?.facts as { readyReason?: string } | undefined)?.readyReason),
    ).toStartWith("AI server not ready: ");
  }, 60_000);

  test("a server on the gateway port exposing counts, live but not ready: the counts are shown, exit 1", async () => {
    const gw = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) =>
        new URL(req.url).pathname === "/healthz"
          ? Response.json({ ok: true, connections: 3 })
          : Response.json({ ok: false, reason: "AI server not ready: connection refused" }, { status: 503 }),
    });
    cleanups.push(() => {
      gw.stop(true);
    });
    const env = childEnv({ ...(await ports()), GATEWAY_PORT: String(gw.port), GATEWAY_HOST: "0.0.0.0" });
    const r = await status(["--only", "gateway"], env);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /^gateway +up, NOT READY +HTTP 503: AI server not ready: connection refused \(\/readyz\) · connections 3 · http:\/\/127\.0\.0\.1:\d+$/m,
    );
    const j = JSON.parse((await status(["--only", "gateway", "--json"], env)).out) as StatusReport;
    expect(j.processes.gateway).toMatchObject({
      up: true,
      ready: false,
      failure: "http",
      facts: { readyReason: "AI server not ready: connection refused", counts: { connections: 3 } },
    });
  }, 60_000);

  test("--only sync checks just that; an unknown process or flag value is a usage error (exit 2)", async () => {
    const env = childEnv(await ports());
    const r = await status(["--only", "sync", "--json"], env);
    expect(r.code).toBe(1);
    const rep = JSON.parse(r.out) as StatusReport;
    expect(Object.keys(rep.processes)).toEqual(["sync"]);

    const bad = await status(["--only", "sync,frobnicator"], env);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain("unknown process frobnicator (known: ai, sync, gateway)");
    expect(bad.out).toContain("usage: pipbot status");

    const badTimeout = await status(["--timeout-ms", "soon"], env);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.out).toContain("--timeout-ms must be milliseconds");
  }, 60_000);
});
