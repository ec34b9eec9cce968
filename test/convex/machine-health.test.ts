/**
 * The machine health sweep (convex/machineHealth.ts) against the fake Fly Machines API: every
 * recorded machine's state and check status is refreshed, page after page; a machine Fly no longer
 * has is marked destroyed; the dashboard query then shows machines by image and state.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, setDefaultTimeout, test } from "bun:test";
import { internal } from "../../convex/_generated/api";
import { ourState } from "../../convex/machineHealth.ts";
import type { FakeFly } from "../fakes/fly-machines.ts";
import { waitFor } from "../helpers/index.ts";
import { type FlyFixture, recordMachines, startFlyFixture } from "./fly-fixture.ts";
import { captureLogs, newConvex, type TestConvex } from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

const IMAGE = "registry.fly.io/pipbot-prod:deploy-health";
let fixture: FlyFixture;
let fly: FakeFly;
let t: TestConvex;
let logs: ReturnType<typeof captureLogs>;

beforeAll(async () => {
  fixture = await startFlyFixture();
  fly = fixture.fly;
});
afterAll(() => fixture.stop());
beforeEach(() => {
  t = newConvex();
  logs = captureLogs();
  fly.machines.clear();
});
afterEach(() => logs.restore());

test("Fly states map onto ours", () => {
  expect(
    ["started", "stopped", "suspended", "replacing", "destroyed", "failed", "created"].map(ourState),
  ).toEqual(["started", "stopped", "stopped", "updating", "destroyed", "failed", "creating"]);
});

test("a sweep over 120 machines (3 pages) records each one's state and health", async () => {
  const ms = fly.seed("pipbot-users", IMAGE, 120);
  await recordMachines(t, ms, "pipbot-users", IMAGE);
  ms[0]!.state = "stopped"; // auto-stopped when idle
  ms[1]!.checks = ms[1]!.checks.map((c) => ({ ...c, status: "critical", output: "connection refused" }));
  fly.machines.delete(ms[2]!.id); // destroyed outside the backend
  await t.action(internal.machineHealth.sweep, {});
  await waitFor(
    async () => {
      await t.finishAllScheduledFunctions(() => {});
      return logs.lines.some((l) => l.includes("health_sweep_done"));
    },
    { what: "the sweep's last page" },
  );
  const rows = await t.run((ctx) => ctx.db.query("machines").collect());
  const by = new Map(rows.map((r) => [r.machineId, r]));
  expect(by.get(ms[0]!.id)).toMatchObject({ state: "stopped", lastHealth: { status: "stopped" } });
  expect(by.get(ms[1]!.id)).toMatchObject({
    state: "started",
    lastHealth: { status: "critical", detail: "gateway=critical" },
  });
  expect(by.get(ms[2]!.id)).toMatchObject({ state: "destroyed", lastHealth: { status: "gone" } });
  expect(rows.filter((r) => r.lastHealth?.status === "passing")).toHaveLength(117);
  expect(await t.query(internal.provisioning.fleetSummary, {})).toEqual({
    [IMAGE]: { started: 118, stopped: 1, destroyed: 1 },
  });
  expect(await t.query(internal.provisioning.machines, { imageRef: IMAGE, state: "stopped" })).toHaveLength(
    1,
  );
  expect(fly.requests.filter((r) => r.method === "GET").length).toBe(120);
});
