/**
 * One rule for a relative DATA_DIR (the default ./data included): it is relative to the directory
 * the processes run in, which under the supervisor is the Procfile's. `pipbot start --procfile`
 * run from ANOTHER directory puts its lock, its status file and the store in one directory, under
 * the Procfile's; `pipbot status` finds it with the same rule; a second start from the Procfile's
 * own directory is refused by that same lock (real child processes, real files).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join, relative } from "node:path";
import { childEnv, freePort, ROOT, type RunningProcess, spawnPipbot, waitFor } from "../helpers/index.ts";
import { killSupervisorTree, projectAndElsewhere } from "./helpers.ts";

let cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const layout = () => projectAndElsewhere("datadir", (f) => cleanups.push(f));

function started(p: RunningProcess): RunningProcess {
  cleanups.push(() => killSupervisorTree(p));
  return p;
}

async function allReady(sup: RunningProcess): Promise<void> {
  await waitFor(() => sup.records().find((r) => r.event === "all_ready"), {
    timeoutMs: 45_000,
    what: "all_ready",
  }).catch((e: Error) => {
    throw new Error(`${e.message}; the supervisor's output:\n${sup.output().slice(-4000)}`);
  });
}

interface StatusJson {
  supervisor: { path: string; running: boolean; view: { pid: number } } | null;
}

async function status(args: string[], env: Record<string, string>, cwd: string): Promise<StatusJson> {
  const p = started(spawnPipbot(["status", "--json", "--only", "gateway", ...args], env, { cwd }));
  const code = await p.exited;
  try {
    return JSON.parse(p.output()) as StatusJson;
  } catch {
    throw new Error(`pipbot status exited ${code} without JSON:\n${p.output()}`);
  }
}

describe("DATA_DIR relative to the Procfile's directory", () => {
  test("default ./data: lock, status file and store under the Procfile's directory; status finds it; a second start there is refused", async () => {
    const l = layout();
    const env = childEnv({ GATEWAY_PORT: String(await freePort()), SUPERVISOR_READY_TIMEOUT_MS: "30000" });
    const sup = started(spawnPipbot(["start", "--procfile", l.procfile], env, { cwd: l.cwd }));
    await allReady(sup);

    const data = join(l.project, "data");
    expect({
      lock: existsSync(join(data, "supervisor.lock")),
      status: existsSync(join(data, "supervisor-status.json")),
      store: existsSync(join(data, "pipbot.db")),
      token: existsSync(join(data, "gateway-token")),
      inCwd: existsSync(join(l.cwd, "data")),
    }).toEqual({ lock: true, status: true, store: true, token: true, inCwd: false });

    // From the other directory with --procfile, and from the project directory with no flag.
    const fromElsewhere = await status(["--procfile", l.procfile], env, l.cwd);
    expect(fromElsewhere.supervisor).toMatchObject({
      path: join(data, "supervisor-status.json"),
      running: true,
      view: { pid: sup.proc.pid },
    });
    const fromProject = await status([], env, l.project);
    expect(fromProject.supervisor?.path).toBe(join(data, "supervisor-status.json"));

    // The same runtime started from the Procfile's own directory (other port): the same lock.
    const second = started(
      spawnPipbot(["start"], { ...env, GATEWAY_PORT: String(await freePort()) }, { cwd: l.project }),
    );
    expect(await second.exited).toBe(69);
    expect(second.output()).toContain(
      `DATA_DIR ${data} is in use by another pipbot runtime (supervisor pid ${sup.proc.pid}`,
    );
    expect(second.records().filter((r) => r.event === "child_start")).toEqual([]);
  }, 90_000);

  test("a configured relative DATA_DIR: the same directory for start, check and status ($PROCFILE)", async () => {
    const l = layout();
    const env = childEnv({
      DATA_DIR: "var/pip",
      GATEWAY_PORT: String(await freePort()),
      SUPERVISOR_READY_TIMEOUT_MS: "30000",
    });
    const data = join(l.project, "var", "pip");

    const check = started(
      spawnPipbot(["check", "--procfile", l.procfile, "--only", "gateway", "--json"], env, { cwd: l.cwd }),
    );
    expect(await check.exited).toBe(0);
    expect(JSON.parse(check.output()).facts.dataDir).toBe(data);

    const sup = started(spawnPipbot(["start", "--procfile", l.procfile], env, { cwd: l.cwd }));
    await allReady(sup);
    expect({
      lock: existsSync(join(data, "supervisor.lock")),
      status: existsSync(join(data, "supervisor-status.json")),
      store: existsSync(join(data, "pipbot.db")),
      inCwd: existsSync(join(l.cwd, "var")),
    }).toEqual({ lock: true, status: true, store: true, inCwd: false });

    const viaEnv = await status([], { ...env, PROCFILE: l.procfile }, l.cwd);
    expect(viaEnv.supervisor).toMatchObject({
      path: join(data, "supervisor-status.json"),
      running: true,
      view: { pid: sup.proc.pid },
    });
  }, 90_000);

  test("pipbot demo from another directory: a relative DATA_DIR is relative to the repository (its Procfile's directory)", async () => {
    const l = layout();
    // A relative path from the repository to a temp directory, so the checkout stays clean.
    const data = join(l.project, "demo-data");
    const env = childEnv({
      DATA_DIR: relative(ROOT, data),
      AI_PORT: String(await freePort()),
      SYNC_STATUS_PORT: String(await freePort()),
      GATEWAY_PORT: String(await freePort()),
      SUPERVISOR_READY_TIMEOUT_MS: "30000",
    });
    // Deep enough that the relative path, resolved there, is not the same directory.
    const cwd = join(l.cwd, "a", "b", "c", "d", "e", "f");
    mkdirSync(cwd, { recursive: true });
    const demo = started(spawnPipbot(["demo"], env, { cwd }));
    // The banner comes once the lock is taken, before any process starts.
    const banner = await demo.waitForOutput(/^ {2}data: {7}(\S+)$/m, 45_000);
    expect(banner[1]).toBe(data);
    expect({
      lock: existsSync(join(data, "supervisor.lock")),
      token: existsSync(join(data, "gateway-token")),
    }).toEqual({ lock: true, token: true });
  }, 90_000);
});
