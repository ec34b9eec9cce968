/**
 * `pipbot release rollout …` as a real child process against the real Convex admin API (through the
 * loopback adapter) and the fake Fly Machines API + registry: set the image, roll out and follow it
 * to the end, a failing canary exits 1 naming the machine, status/abort/resume, and auth.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, setDefaultTimeout, test } from "bun:test";
import type { FakeFly } from "../fakes/fly-machines.ts";
import type { FakeRegistry } from "../fakes/registry.ts";
import { childEnv, spawnPipbot } from "../helpers/index.ts";
import {
  type FlyRegistryFixture,
  pushOldAndNew,
  recordMachines,
  startFlyRegistryFixture,
} from "./fly-fixture.ts";
import { captureLogs, type Loopback, newConvex, setEnv, startLoopback, type TestConvex } from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

const ADMIN_TOKEN = "admin-token-0123456789abcdef0123456789";
let fixture: FlyRegistryFixture;
let fly: FakeFly;
let registry: FakeRegistry;
let t: TestConvex;
let lb: Loopback;
let logs: ReturnType<typeof captureLogs>;
let oldImage: string;
let newImage: string;

beforeAll(async () => {
  fixture = await startFlyRegistryFixture({ ADMIN_TOKEN });
  ({ fly, registry } = fixture);
});
afterAll(() => fixture.stop());
beforeEach(async () => {
  t = newConvex();
  logs = captureLogs();
  lb = startLoopback(t);
  fly.machines.clear();
  fly.updates.clear();
  ({ oldImage, newImage } = pushOldAndNew(registry));
  await recordMachines(t, fly.seed("pipbot-users", oldImage, 6), "pipbot-users", oldImage);
});
afterEach(async () => {
  await t.finishAllScheduledFunctions(() => {});
  await lb.stop();
  logs.restore();
  fly.faults.crash.clear();
});

async function pipbot(args: string[], token = ADMIN_TOKEN) {
  const p = spawnPipbot(
    ["release", "rollout", ...args],
    childEnv({ PIPBOT_ADMIN_URL: lb.url, PIPBOT_ADMIN_TOKEN: token, PIPBOT_ROLLOUT_POLL_MS: "20" }),
  );
  const code = await p.exited;
  return { code, out: p.output() };
}

test("set-image refuses what the registry lacks and stores what it has", async () => {
  const bad = await pipbot(["set-image", `${registry.host}/pipbot-prod:latest`]);
  expect(bad.code).toBe(1);
  expect(bad.out).toContain(":latest");
  const missing = await pipbot(["set-image", `${registry.host}/pipbot-prod:deploy-nope`]);
  expect(missing.code).toBe(1);
  expect(missing.out).toContain("no such manifest");
  const ok = await pipbot(["set-image", newImage]);
  expect(ok.code).toBe(0);
  expect(ok.out).toContain(`new machines now use ${newImage} (sha256:`);
});

test("rollout --wait follows the waves to completion (exit 0); status --json shows it", async () => {
  const r = await pipbot([newImage, "--canary", "1", "--growth", "2", "--wait"]);
  expect(r.code).toBe(0);
  expect(r.out).toContain("6 machines in waves [1,2,3]");
  expect(r.out).toMatch(/completed, wave 3\/3, updated 6\/6, failed 0/);
  for (const m of fly.machines.values()) expect(fly.updates.get(m.id)).toBe(1);
  const s = await pipbot(["status", "--json"]);
  expect(s.code).toBe(0);
  expect(JSON.parse(s.out.trim().split("\n").at(-1)!)).toMatchObject({ state: "completed", total: 6 });
  const none = await pipbot(["abort"]);
  expect(none.code).toBe(1);
  expect(none.out).toContain("no running rollout");
});

test("a failing canary: exit 1, the wave restored, the machine and its error printed", async () => {
  fly.faults.crash.add(newImage);
  const r = await pipbot([newImage, "--wait"]);
  expect(r.code).toBe(1);
  expect(r.out).toMatch(/failed, wave 1\/\d+, updated 0\/6, failed 0, restored 1/);
  expect(r.out).toContain("did not start");
  for (const m of fly.machines.values()) expect(m.config.image).toBe(oldImage);
});

test("a wrong admin token is refused; bad arguments are usage errors (exit 2)", async () => {
  const r = await pipbot(["status"], "not-the-admin-token-0000000000000000");
  expect(r.code).toBe(1);
  expect(r.out).toContain("HTTP 401");
  expect(r.out).not.toContain(ADMIN_TOKEN);
  const u = await pipbot([newImage, "--canary", "many"]);
  expect(u.code).toBe(2);
  expect(u.out).toContain("--canary must be a number");
});

test("without ADMIN_TOKEN on the deployment the admin API is off", async () => {
  const back = setEnv({ ADMIN_TOKEN: "" });
  try {
    const res = await t.fetch("/admin/v1/image", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(503);
  } finally {
    back();
  }
});
