/**
 * The proxy test files' shared fixture: the upstream simulator as the providers (their env set for
 * the Convex functions), a fresh convex-test instance with a provisioned user, and captured logs
 * per test. `useProxyFixture()` registers the hooks in the calling file; the bindings below are
 * live (ES module exports), so a test reads the current `sim`, `t` and `logs`.
 */
import { afterAll, afterEach, beforeAll, beforeEach } from "bun:test";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import type { captureLogs, TestConvex } from "./setup.ts";
import { newUserConvex, providerEnv } from "./setup.ts";

export let sim: UpstreamSim;
export let t: TestConvex;
export let logs: ReturnType<typeof captureLogs>;

export function useProxyFixture(): void {
  let restoreEnv: () => void;
  beforeAll(async () => {
    sim = await startUpstreamSim();
    restoreEnv = providerEnv(sim.url);
  });
  afterAll(async () => {
    restoreEnv();
    await sim.stop();
  });
  beforeEach(async () => {
    ({ t, logs } = await newUserConvex());
  });
  afterEach(() => {
    logs.restore();
    sim.reset();
  });
}
