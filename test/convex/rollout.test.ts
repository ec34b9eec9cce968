/**
 * Fleet rollout (convex/rollout.ts, rolloutTick.ts) driven by the real scheduler under convex-test,
 * against the fake Fly Machines API: waves in order, each machine updated in place exactly once
 * (volume kept), a canary failure rolls the wave back and stops, a failure threshold per wave, a
 * crash of the Fly API mid-rollout resumes without a second update, and 1,000 machines.
 */
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { LEASE_MS, waveSizes } from "../../convex/rollout.ts";
import type { FakeFly, FakeMachine } from "../fakes/fly-machines.ts";
import type { FakeRegistry } from "../fakes/registry.ts";
import { waitFor } from "../helpers/index.ts";
import {
  type FlyRegistryFixture,
  pushOldAndNew,
  recordMachines,
  startFlyRegistryFixture,
} from "./fly-fixture.ts";
import { captureLogs, newConvex, type TestConvex } from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

let fixture: FlyRegistryFixture;
let fly: FakeFly;
let registry: FakeRegistry;
let t: TestConvex;
let logs: ReturnType<typeof captureLogs>;
let oldImage: string;
let newImage: string;
const APP = "pipbot-users";

beforeAll(async () => {
  fixture = await startFlyRegistryFixture();
  ({ fly, registry } = fixture);
});
afterAll(() => fixture.stop());
beforeEach(() => {
  t = newConvex();
  logs = captureLogs();
  fly.machines.clear();
  fly.updates.clear();
  ({ oldImage, newImage } = pushOldAndNew(registry));
});
afterEach(async () => {
  await t.finishAllScheduledFunctions(() => {});
  logs.restore();
  fly.faults.crash.clear();
  fly.faults.crashIds.clear();
  fly.faults.beforeUpdate = undefined;
});

/** n running machines on the old image, in Fly and in the machines table. */
async function fleet(n: number): Promise<FakeMachine[]> {
  const ms = fly.seed(APP, oldImage, n);
  for (const m of ms)
    m.config = {
      ...m.config,
      mounts: [{ volume: `vol_${m.id}`, path: "/data" }],
      env: { CLERK_USER_ID: m.id },
    };
  await recordMachines(t, ms, APP, oldImage);
  return ms;
}

const begin = (over: Record<string, unknown> = {}) =>
  t.action(internal.rolloutTick.begin, { imageRef: newImage, ...over });
const status = (rolloutId?: string) =>
  t.query(internal.rolloutControl.status, rolloutId ? { rolloutId: rolloutId as Id<"rollouts"> } : {});
const settled = async (rolloutId: string, timeoutMs = 30_000) =>
  await waitFor(
    async () => {
      const s = await status(rolloutId);
      return s && s.state !== "running" && s.state !== "rolling_back" ? s : null;
    },
    { timeoutMs, what: "the rollout to settle" },
  );

test("wave sizes: canary, then growing batches, covering every machine once", () => {
  expect(waveSizes(1000, 1, 4)).toEqual([1, 4, 16, 64, 256, 659]);
  expect(waveSizes(3, 1, 4)).toEqual([1, 2]);
  expect(waveSizes(0, 1, 4)).toEqual([]);
  expect(waveSizes(10, 2, 1.5)).toEqual([2, 3, 4, 1]);
});

describe("rollout", () => {
  test("every machine updated in place once, waves in order, volumes and env kept; status shows it", async () => {
    const ms = await fleet(10);
    const r = await begin({ canary: 1, growth: 3, concurrency: 4 });
    expect(r.waves).toEqual([1, 3, 6]);
    const s = await settled(r.rolloutId);
    expect(s).toMatchObject({ state: "completed", total: 10, counts: { updated: 10 } });
    expect(s.perWave.map((w) => w.updated)).toEqual([1, 3, 6]);
    for (const m of ms) {
      expect(fly.updates.get(m.id)).toBe(1);
      expect(m.config.image).toBe(newImage);
      expect(m.config.mounts).toEqual([{ volume: `vol_${m.id}`, path: "/data" }]);
      expect(m.config.env).toEqual({ CLERK_USER_ID: m.id });
    }
    const rows = await t.query(internal.provisioning.machines, { imageRef: newImage, state: "started" });
    expect(rows).toHaveLength(10);
    expect(await t.query(internal.provisioning.fleetSummary, {})).toEqual({ [newImage]: { started: 10 } });
    // a second rollout to the same image has nothing to do
    expect((await begin()).total).toBe(0);
  });

  test("an image missing from the registry is refused before any machine is touched", async () => {
    await fleet(3);
    await expect(begin({ imageRef: `${registry.host}/pipbot-prod:deploy-not-pushed` })).rejects.toThrow(
      /no such manifest/,
    );
    expect(fly.updates.size).toBe(0);
    expect(await status()).toBeNull();
  });

  test("a failing canary stops the rollout and restores the canary to its previous image", async () => {
    const ms = await fleet(8);
    fly.faults.crash.add(newImage);
    const r = await begin({ canary: 1 });
    const s = await settled(r.rolloutId);
    expect(s.state).toBe("failed");
    expect(s.reason).toContain("wave 0");
    expect(s.counts).toMatchObject({ restored: 1, pending: 7 });
    const canary = ms.find((m) => fly.updates.get(m.id))!;
    expect(fly.updates.get(canary.id)).toBe(2); // the update, then the restore
    expect(canary.config.image).toBe(oldImage);
    expect(canary.state).toBe("started");
    expect([...fly.updates.keys()]).toEqual([canary.id]); // nobody else was touched
    expect(await t.query(internal.provisioning.fleetSummary, {})).toEqual({ [oldImage]: { started: 8 } });
  });

  test("past the wave's failure threshold the whole wave is rolled back; within it the rollout goes on", async () => {
    // 1 + 4 + 16: allow floor(4 × 0.3) = 1 failure in wave 1.
    const ms = await fleet(21);
    const r1 = await begin({ canary: 1, growth: 4, maxFailureRate: 0.3, concurrency: 2 });
    fly.faults.beforeUpdate = (m) => {
      if (fly.updates.size === 1) fly.faults.crashIds.add(m.id); // the first machine of wave 1
    };
    const s1 = await settled(r1.rolloutId);
    expect(s1.state).toBe("completed");
    expect(s1.counts).toMatchObject({ updated: 20, failed: 1 });
    expect(s1.failures[0]!.error).toContain("did not start");

    // Now a new image where 2 of wave 1's 4 crash: over the threshold → wave 1 restored, stop.
    fly.updates.clear();
    fly.faults.crashIds.clear();
    const next = `${registry.host}/pipbot-prod:deploy-next`;
    registry.push("pipbot-prod", "deploy-next");
    await t.run(async (ctx) => {
      for (const m of await ctx.db.query("machines").collect())
        await ctx.db.patch(m._id, { imageRef: newImage, state: "started" });
    });
    for (const m of ms) m.state = "started";
    let n = 0;
    fly.faults.beforeUpdate = (m) => {
      n++;
      if (n === 2 || n === 3) fly.faults.crashIds.add(m.id);
    };
    const r2 = await begin({ imageRef: next, canary: 1, growth: 4, maxFailureRate: 0.3, concurrency: 4 });
    const s2 = await settled(r2.rolloutId);
    expect(s2.state).toBe("failed");
    expect(s2.reason).toContain("wave 1");
    expect(s2.perWave[0]!.updated).toBe(1);
    expect(s2.counts.restored! + (s2.counts.restore_failed ?? 0)).toBe(4);
    expect(s2.counts.pending).toBe(16);
  });

  test("a crash mid-rollout (the Fly API gone) resumes where it stopped; no machine is updated twice", async () => {
    const ms = await fleet(40);
    let n = 0;
    fly.faults.beforeUpdate = () => {
      if (++n === 10) queueMicrotask(() => void fly.down()); // after the 10th update is applied
    };
    const r = await begin({ canary: 1, growth: 4, concurrency: 8 });
    // the tick dies (FlyUnavailable) and nothing reschedules it
    await waitFor(
      async () => {
        await t.finishAllScheduledFunctions(() => {});
        const s = await status(r.rolloutId);
        return s?.state === "running" && (s.counts.updating ?? 0) > 0 ? s : null;
      },
      { what: "a stalled rollout with updating targets" },
    );
    expect(logs.lines.some((l) => l.includes("Fly API unreachable"))).toBe(true);
    fly.faults.beforeUpdate = undefined;
    await fly.up();
    expect(await t.mutation(internal.rolloutControl.resume, {})).toBe(r.rolloutId);
    const s = await settled(r.rolloutId);
    expect(s).toMatchObject({ state: "completed", counts: { updated: 40 } });
    for (const m of ms) expect(fly.updates.get(m.id)).toBe(1);
  });

  test("the cron resumes a stalled rollout only once its tick's lease has run out", async () => {
    const ms = await fleet(12);
    let n = 0;
    fly.faults.beforeUpdate = () => {
      if (++n === 3) queueMicrotask(() => void fly.down());
    };
    const r = await begin({ canary: 1, growth: 4, concurrency: 4 });
    await waitFor(
      async () => {
        await t.finishAllScheduledFunctions(() => {});
        const s = await status(r.rolloutId);
        return s?.state === "running" && (s.counts.updating ?? 0) > 0 ? s : null;
      },
      { what: "a stalled rollout" },
    );
    fly.faults.beforeUpdate = undefined;
    await fly.up();
    // the tick was seen moments ago: its lease still holds, the cron leaves it alone
    expect(await t.mutation(internal.rolloutControl.resumeStalled, {})).toBeNull();
    await t.run(async (ctx) => {
      const row = await ctx.db.get(r.rolloutId);
      await ctx.db.patch(r.rolloutId, { tickAt: row!.tickAt - LEASE_MS - 1 });
    });
    expect(await t.mutation(internal.rolloutControl.resumeStalled, {})).toBe(r.rolloutId);
    const s = await settled(r.rolloutId);
    expect(s).toMatchObject({ state: "completed", counts: { updated: 12 } });
    for (const m of ms) expect(fly.updates.get(m.id)).toBe(1);
  });

  test("a machine Fly no longer has is skipped (marked destroyed), not counted as a failed update", async () => {
    const ms = await fleet(5);
    fly.machines.delete(ms[3]!.id);
    const r = await begin({ canary: 1, growth: 4 });
    const s = await settled(r.rolloutId);
    expect(s).toMatchObject({ state: "completed", counts: { updated: 4, skipped: 1 } });
    const gone = await t.query(internal.provisioning.machines, { state: "destroyed" });
    expect(gone.map((m) => m.machineId)).toEqual([ms[3]!.id]);
  });

  test("abort stops the rollout: no machine beyond the in-flight batch is touched", async () => {
    await fleet(30);
    let aborted = false;
    fly.faults.beforeUpdate = () => {
      if (!aborted) {
        aborted = true;
        void t.mutation(internal.rolloutControl.abort, {});
      }
    };
    const r = await begin({ canary: 1, concurrency: 1 });
    const s = await settled(r.rolloutId);
    expect(s.state).toBe("aborted");
    await t.finishAllScheduledFunctions(() => {});
    expect(fly.updates.size).toBeLessThanOrEqual(1);
    expect((await status(r.rolloutId))!.counts.pending).toBeGreaterThanOrEqual(29);
  });

  test("1,000 machines in waves: each updated exactly once", async () => {
    const ms = await fleet(1000);
    const r = await begin({ canary: 1, growth: 4, concurrency: 50 });
    expect(r.waves).toEqual([1, 4, 16, 64, 256, 659]);
    const s = await settled(r.rolloutId, 120_000);
    expect(s).toMatchObject({ state: "completed", total: 1000, counts: { updated: 1000 } });
    expect(fly.updates.size).toBe(1000);
    for (const m of ms) expect(fly.updates.get(m.id)).toBe(1);
  }, 180_000);
});
