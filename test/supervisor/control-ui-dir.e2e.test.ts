/**
 * One rule for a relative GATEWAY_CONTROL_UI_DIR: it is relative to the directory the gateway runs
 * in, which under the supervisor is the Procfile's. `pipbot check --procfile` and `pipbot start
 * --procfile` run from ANOTHER directory check and serve the same directory (real child processes).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { childEnv, freePort, type RunningProcess, spawnPipbot, waitFor } from "../helpers/index.ts";
import { killSupervisorTree, projectAndElsewhere } from "./helpers.ts";

let cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** The project/elsewhere layout with a Control UI bundle in one of the two. */
function layout(uiIn: "project" | "cwd") {
  const l = projectAndElsewhere("uidir", (f) => cleanups.push(f));
  const ui = join(uiIn === "project" ? l.project : l.cwd, "ui");
  mkdirSync(ui);
  writeFileSync(join(ui, "index.html"), "<html><body>control ui from the project</body></html>");
  return { procfile: l.procfile, cwd: l.cwd, projectUi: join(l.project, "ui") };
}

async function run(p: RunningProcess) {
  cleanups.push(() => killSupervisorTree(p));
  return { code: await p.exited, out: p.output() };
}

describe("GATEWAY_CONTROL_UI_DIR relative to the Procfile's directory", () => {
  test("pipbot check and pipbot start from another directory both use the Procfile's directory", async () => {
    const l = layout("project");
    const port = String(await freePort());
    const env = childEnv({
      GATEWAY_CONTROL_UI_DIR: "ui",
      GATEWAY_PORT: port,
      DATA_DIR: join(l.cwd, "data"),
      SUPERVISOR_READY_TIMEOUT_MS: "30000",
    });
    const check = await run(
      spawnPipbot(["check", "--procfile", l.procfile, "--only", "gateway", "--json"], env, { cwd: l.cwd }),
    );
    expect({ code: check.code, problems: JSON.parse(check.out).problems }).toEqual({ code: 0, problems: [] });

    const sup = spawnPipbot(["start", "--procfile", l.procfile], env, { cwd: l.cwd });
    cleanups.push(() => killSupervisorTree(sup));
    await waitFor(() => sup.records().find((r) => r.event === "all_ready"), {
      timeoutMs: 45_000,
      what: "all_ready",
    }).catch((e: Error) => {
      throw new Error(`${e.message}; the supervisor's output:\n${sup.output().slice(-4000)}`);
    });
    const page = await fetch(`http://127.0.0.1:${port}/control/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("control ui from the project");
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toMatchObject({ controlUi: true });
  }, 60_000);

  test("a bundle only in the working directory is refused by check and start alike, naming the resolved path", async () => {
    const l = layout("cwd");
    const env = childEnv({ GATEWAY_CONTROL_UI_DIR: "ui", GATEWAY_PORT: String(await freePort()) });
    const check = await run(
      spawnPipbot(["check", "--procfile", l.procfile, "--only", "gateway"], env, { cwd: l.cwd }),
    );
    expect(check.code).toBe(1);
    expect(check.out).toContain(l.projectUi);
    const start = await run(spawnPipbot(["start", "--procfile", l.procfile], env, { cwd: l.cwd }));
    expect(start.code).toBe(78);
    expect(start.out).toContain(`GATEWAY_CONTROL_UI_DIR="${l.projectUi}": has no index.html`);
  }, 60_000);
});
