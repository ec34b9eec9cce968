/**
 * The fleet tests' shared fixture: the fake Fly Machines API (and, where asked, the fake registry
 * that trusts its token) with the deployment's environment pointed at them, an old and a new
 * deploy image pushed to the registry, and machines recorded in the `machines` table.
 */
import { type FakeFly, type FakeMachine, startFakeFly } from "../fakes/fly-machines.ts";
import { type FakeRegistry, startFakeRegistry } from "../fakes/registry.ts";
import { flyEnv, setEnv, type TestConvex } from "./setup.ts";

export interface FlyFixture {
  fly: FakeFly;
  /** Restores the environment and stops the fakes. */
  stop(): Promise<void>;
}

/** The fake Fly API with flyEnv set (plus `env`, restored in the reverse order by stop()). */
export async function startFlyFixture(env: Record<string, string> = {}): Promise<FlyFixture> {
  const fly = await startFakeFly();
  const restoreFly = flyEnv(fly.url, fly.token);
  const restoreEnv = setEnv(env);
  return {
    fly,
    async stop() {
      restoreEnv();
      restoreFly();
      await fly.stop();
    },
  };
}

export interface FlyRegistryFixture extends FlyFixture {
  registry: FakeRegistry;
}

/** startFlyFixture plus the fake registry, whose password is the Fly token. */
export async function startFlyRegistryFixture(env: Record<string, string> = {}): Promise<FlyRegistryFixture> {
  const f = await startFlyFixture(env);
  const registry = await startFakeRegistry({ password: f.fly.token });
  return {
    fly: f.fly,
    registry,
    async stop() {
      await f.stop();
      await registry.stop();
    },
  };
}

/** Pushes `deploy-old-<tag>` and `deploy-new-<tag>` (a fresh tag) and returns both refs. */
export function pushOldAndNew(registry: FakeRegistry): { oldImage: string; newImage: string } {
  const tag = crypto.randomUUID().slice(0, 8);
  registry.push("pipbot-prod", `deploy-old-${tag}`);
  registry.push("pipbot-prod", `deploy-new-${tag}`);
  return {
    oldImage: `${registry.host}/pipbot-prod:deploy-old-${tag}`,
    newImage: `${registry.host}/pipbot-prod:deploy-new-${tag}`,
  };
}

/** Records each machine as started on `imageRef` in the machines table (user `user_<id>`, region iad). */
export async function recordMachines(
  t: TestConvex,
  ms: FakeMachine[],
  flyApp: string,
  imageRef: string,
): Promise<void> {
  await t.run(async (ctx) => {
    for (const m of ms)
      await ctx.db.insert("machines", {
        userId: `user_${m.id}`,
        flyApp,
        machineId: m.id,
        region: "iad",
        imageRef,
        state: "started",
        createdAt: Date.now(),
        updatedAt: Date.now(),
      });
  });
}
