/**
 * Issue 11 findings 5 and 6, against real processes:
 *  - no child outlives its supervisor, however it dies: the real runtime (AI server on the
 *    simulator, sync worker, gateway) under `pipbot start`, the supervisor SIGKILLed (as the OOM
 *    killer would); every child is gone and every port is free again within a deadline. Before the
 *    fix each child ran in its own process group and kept running, holding its port.
 *  - Procfile lines run through `/bin/sh -c` like foreman: `exec` lines become the process (the
 *    supervisor's child pid IS the program, so its signals reach it). Before the fix `exec sleep`
 *    failed with "Executable not found in $PATH".
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { startUpstreamSim } from "../../src/dev/upstream-sim.ts";
import { childEnv, freePort, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { isAlive, killSupervisorTree } from "./helpers.ts";

let cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** True when nothing listens on 127.0.0.1:port any more (we can bind it). */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once("error", () => res(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
  });
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

describe("no child outlives its supervisor", () => {
  test("SIGKILL of the supervisor: every real child exits and every port is free again", async () => {
    const sim = await startUpstreamSim();
    const data = tempDir("pipbot-pdeath-");
    cleanups.push(async () => {
      await sim.stop();
      data.cleanup();
    });
    const ports = {
      AI_PORT: String(await freePort()),
      SYNC_STATUS_PORT: String(await freePort()),
      GATEWAY_PORT: String(await freePort()),
    };
    const sup = spawnPipbot(
      ["start"],
      childEnv({
        ...ports,
        DATA_DIR: data.path,
        ANTHROPIC_BASE_URL: sim.url,
        ANTHROPIC_API_KEY: "sim",
        AI_DEFAULT_MODEL: "anthropic/sim",
        PIPBOT_SIMULATOR: "1",
        AI_URL: `http://127.0.0.1:${ports.AI_PORT}`,
        CLAWDBOT_GATEWAY_TOKEN: "test-gateway-token-123",
        SUPERVISOR_READY_TIMEOUT_MS: "30000",
      }),
    );
    cleanups.push(() => killSupervisorTree(sup));
    await waitFor(() => sup.records().find((r) => r.event === "all_ready"), {
      timeoutMs: 45_000,
      what: "all_ready",
    });
    const pids = sup
      .records()
      .filter((r) => r.event === "child_start")
      .map((r) => Number(r.pid));
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(isAlive(pid)).toBe(true);
    // The real Procfile's lines are `exec bun …`: the supervisor's child is bun itself.
    for (const pid of pids) expect(cmdline(pid)).toMatch(/^bun .*src\/cli\.ts (ai|sync|gateway)$/);

    sup.proc.kill("SIGKILL");
    await sup.proc.exited;
    await waitFor(() => pids.every((pid) => !isAlive(pid)), {
      timeoutMs: 20_000,
      what: `children ${pids.join(", ")} to exit after their supervisor was SIGKILLed`,
    });
    for (const port of Object.values(ports).map(Number))
      await waitFor(() => portFree(port), { timeoutMs: 5_000, what: `port ${port} to be free` });
  }, 90_000);
});

describe("Procfile lines run like foreman runs them", () => {
  test("`exec` lines become the process; shell syntax works; SIGTERM reaches the program", async () => {
    const t = tempDir("pipbot-procsh-");
    const out = join(t.path, "out");
    const procfile = join(t.path, "Procfile");
    writeFileSync(
      procfile,
      ["web: exec sleep 300", `env: GREETING=hi; echo "$GREETING from sh" > ${out}; exec sleep 301`, ""].join(
        "\n",
      ),
    );
    const sup = spawnPipbot(
      ["start", "--procfile", procfile],
      childEnv({ SUPERVISOR_READY_UPTIME_MS: "200", DATA_DIR: t.path }),
    );
    cleanups.push(async () => {
      await killSupervisorTree(sup);
      t.cleanup();
    });
    await waitFor(() => sup.records().find((r) => r.event === "all_ready"), {
      timeoutMs: 20_000,
      what: "all_ready",
    });
    const started = sup.records().filter((r) => r.event === "child_start");
    const pidOf = (name: string) => Number(started.find((r) => r.child === name)?.pid);
    expect(cmdline(pidOf("web"))).toBe("sleep 300");
    expect(cmdline(pidOf("env"))).toBe("sleep 301");
    expect(readFileSync(out, "utf8")).toBe("hi from sh\n");
    sup.kill("SIGTERM");
    expect(await sup.exited).toBe(0);
    const exits = sup.records().filter((r) => r.event === "child_exit");
    // sleep itself got the SIGTERM (no shell in between that would exit on its behalf).
    for (const name of ["web", "env"]) expect(exits.find((r) => r.child === name)?.signal).toBe("SIGTERM");
    expect(isAlive(pidOf("web"))).toBe(false);
  }, 40_000);
});
