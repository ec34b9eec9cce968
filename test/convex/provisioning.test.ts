/**
 * Provisioning (convex/provisioning.ts) against the fake Fly Machines API and the fake registry:
 * the image ref is validated before it is stored and before each use; a machine is created with
 * the image, the deployment's variables (secrets included), the volume, restart policy and
 * auto_destroy:false; a machine that fails to boot is reported with its last events and kept.
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
import type { FakeFly } from "../fakes/fly-machines.ts";
import type { FakeRegistry } from "../fakes/registry.ts";
import { type FlyRegistryFixture, startFlyRegistryFixture } from "./fly-fixture.ts";
import { captureLogs, newConvex, signedPush, type TestConvex } from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

let fixture: FlyRegistryFixture;
let fly: FakeFly;
let registry: FakeRegistry;
let t: TestConvex;
let logs: ReturnType<typeof captureLogs>;
let good: string;
// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON bodies
type Json = Record<string, any>;

beforeAll(async () => {
  fixture = await startFlyRegistryFixture();
  ({ fly, registry } = fixture);
});
afterAll(() => fixture.stop());
beforeEach(() => {
  t = newConvex();
  logs = captureLogs();
  const tag = `deploy-20261204120000-${crypto.randomUUID().slice(0, 7)}`;
  registry.push("pipbot-prod", tag);
  good = `${registry.host}/pipbot-prod:${tag}`;
});
afterEach(() => {
  logs.restore();
  fly.faults.crash.clear();
  fly.faults.failChecks.clear();
});

describe("the image ref", () => {
  test("refused unless immutable and present in the registry; stored with its digest", async () => {
    const set = (imageRef: string) => t.action(internal.provisioning.setImageRef, { imageRef });
    await expect(set(`${registry.host}/pipbot-prod:latest`)).rejects.toThrow(/:latest/);
    await expect(set(`${registry.host}/pipbot-prod`)).rejects.toThrow(/no tag or digest/);
    await expect(set(`${registry.host}/pipbot-prod:deploy-never-pushed`)).rejects.toThrow(/no such manifest/);
    await expect(set("not an image")).rejects.toThrow(/not an image ref/);
    expect(await t.query(internal.provisioning.currentImage, {})).toBeNull();
    const r = await set(good);
    expect(r.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await t.query(internal.provisioning.currentImage, {})).toMatchObject({
      imageRef: good,
      digest: r.digest,
    });
    // a digest ref of what is there works too
    await set(`${registry.host}/pipbot-prod@${r.digest}`);
  });

  test("creating a machine re-checks the registry: an image that disappeared is refused before Fly is called", async () => {
    await t.action(internal.provisioning.setImageRef, { imageRef: good });
    registry.tags.get("pipbot-prod")!.delete(good.split(":").at(-1)!);
    const before = fly.creates.length;
    await expect(t.action(internal.provisioning.createMachine, { userId: "user_gone" })).rejects.toThrow(
      /no such manifest/,
    );
    expect(fly.creates.length).toBe(before);
  });
});

describe("createMachine", () => {
  test("creates volume + machine with the deployment's variables, waits for started and passing checks", async () => {
    await t.action(internal.provisioning.setImageRef, { imageRef: good });
    fly.faults.rateLimitNext = 2; // the client waits and retries on 429
    const r = await t.action(internal.provisioning.createMachine, { userId: "user_new1", region: "ams" });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const body = fly.creates.at(-1) as { region: string; config: Json };
    expect(body.region).toBe("ams");
    const c = body.config;
    expect(c.image).toBe(good);
    expect(c.auto_destroy).toBe(false);
    expect(c.restart).toEqual({ policy: "on-failure", max_retries: 10 });
    expect(c.mounts).toEqual([{ volume: expect.stringMatching(/^vol_/), path: "/data" }]);
    expect(c.checks.gateway).toMatchObject({ type: "http", path: "/healthz", port: 18789 });
    for (const k of [
      "CONVEX_URL",
      "CONVEX_SITE_URL",
      "PIPBOT_SERVICE_TOKEN",
      "CLERK_USER_ID",
      "SYNC_SECRET",
      "CLAWDBOT_GATEWAY_TOKEN",
      "DATA_DIR",
    ])
      expect(c.env[k]).toBeTruthy();
    expect(c.env.CLERK_USER_ID).toBe("user_new1");
    expect(c.env.CLAWDBOT_GATEWAY_TOKEN).toBe(r.gatewayToken);
    const rows = await t.query(internal.provisioning.machines, { imageRef: good, state: "started" });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      userId: "user_new1",
      machineId: r.machineId,
      flyApp: "pipbot-users",
      region: "ams",
    });
    // the minted sync secret is live: the new VM's first push is accepted
    const push = await signedPush(
      t,
      {
        batchId: crypto.randomUUID(),
        userId: "user_new1",
        machineId: r.machineId,
        entries: [
          {
            id: "m1",
            seq: 1,
            sessionKey: "agent:main:main",
            sessionId: "s",
            role: "user",
            content: [],
            createdAt: 1,
          },
        ],
      },
      { user: "user_new1", secret: c.env.SYNC_SECRET },
    );
    expect(push.status).toBe(200);
    // secrets never reach the logs
    const all = logs.lines.join("\n");
    for (const k of ["PIPBOT_SERVICE_TOKEN", "SYNC_SECRET", "CLAWDBOT_GATEWAY_TOKEN"])
      expect(all).not.toContain(c.env[k]);
    expect(all).not.toContain(fly.token);
  });

  test("a machine that crashes at boot: failure reported with its last events, machine kept (not destroyed)", async () => {
    await t.action(internal.provisioning.setImageRef, { imageRef: good });
    fly.faults.crash.add(good);
    const r = await t.action(internal.provisioning.createMachine, { userId: "user_crash" });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toContain("did not start");
    expect((r.events as Json[]).some((e) => e.type === "exit")).toBe(true);
    expect(fly.machines.get(r.machineId!)?.state).toBe("stopped"); // still there to inspect
    expect(fly.requests.some((q) => q.method === "DELETE")).toBe(false);
    const [row] = await t.query(internal.provisioning.machines, { state: "failed" });
    expect(row).toMatchObject({ userId: "user_crash", machineId: r.machineId, error: r.error });
    expect(row!.lastEvents!.length).toBeGreaterThan(0);
  });

  test("checks that never pass: failure names the check and its output", async () => {
    await t.action(internal.provisioning.setImageRef, { imageRef: good });
    fly.faults.failChecks.add(good);
    const r = await t.action(internal.provisioning.createMachine, { userId: "user_sick" });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/gateway=critical.*connection refused/);
  });

  test("without a stored image ref or a Fly app, it refuses with what to set", async () => {
    await expect(t.action(internal.provisioning.createMachine, { userId: "u" })).rejects.toThrow(
      /setImageRef/,
    );
  });
});
