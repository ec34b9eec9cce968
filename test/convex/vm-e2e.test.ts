/**
 * One user's whole stack, end to end with real processes: the backend provisions the user's machine
 * (convex/provisioning.ts against the fake Fly API), and the exact environment it gave that machine
 * boots a real VM (`pipbot start`: AI server, sync worker, gateway) that talks to the Convex code
 * through the loopback adapter. A chat from `pipbot chat` is answered through the Convex usage proxy
 * (one finalized usage row for that user) and both messages land in the Convex tables via sync.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { internal } from "../../convex/_generated/api";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import type { FakeFly } from "../fakes/fly-machines.ts";
import type { FakeRegistry } from "../fakes/registry.ts";
import { childEnv, freePort, type RunningProcess, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { killSupervisorTree } from "../supervisor/helpers.ts";
import { type FlyRegistryFixture, startFlyRegistryFixture } from "./fly-fixture.ts";
import {
  captureLogs,
  type Loopback,
  newConvex,
  OPERATOR_KEY,
  providerEnv,
  startLoopback,
  type TestConvex,
} from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

const USER = "user_vm_e2e_7k2";
let sim: UpstreamSim;
let fixture: FlyRegistryFixture;
let fly: FakeFly;
let registry: FakeRegistry;
let restoreEnv: () => void;
let t: TestConvex;
let lb: Loopback;
let logs: ReturnType<typeof captureLogs>;
let vm: RunningProcess | undefined;
let vmEnv: Record<string, string> = {};
const data = tempDir("pipbot-convex-vm-");

beforeAll(async () => {
  sim = await startUpstreamSim();
  restoreEnv = providerEnv(sim.url);
  fixture = await startFlyRegistryFixture();
  ({ fly, registry } = fixture);
  t = newConvex();
  logs = captureLogs();
  lb = startLoopback(t);
});
afterAll(async () => {
  if (vm) await killSupervisorTree(vm);
  await lb.stop();
  logs.restore();
  await fixture.stop();
  restoreEnv();
  await sim.stop();
  data.cleanup();
});

test("provision → boot with the provisioned env → chat: usage billed once to the user, messages synced", async () => {
  registry.push("pipbot-prod", "deploy-e2e");
  await t.action(internal.provisioning.setImageRef, { imageRef: `${registry.host}/pipbot-prod:deploy-e2e` });
  const created = await t.action(internal.provisioning.createMachine, { userId: USER });
  expect(created.ok).toBe(true);
  const machineEnv = (fly.creates.at(-1) as { config: { env: Record<string, string> } }).config.env;

  // Boot the VM as Fly would, with the machine's env; only the addresses change for loopback.
  const ports = {
    AI_PORT: await freePort(),
    SYNC_STATUS_PORT: await freePort(),
    GATEWAY_PORT: await freePort(),
  };
  const { CONVEX_URL: _cloud, ...env } = machineEnv;
  vmEnv = childEnv({
    ...env,
    CONVEX_SITE_URL: lb.url,
    DATA_DIR: data.path,
    GATEWAY_HOST: "127.0.0.1",
    AI_PORT: String(ports.AI_PORT),
    SYNC_STATUS_PORT: String(ports.SYNC_STATUS_PORT),
    GATEWAY_PORT: String(ports.GATEWAY_PORT),
    AI_URL: `http://127.0.0.1:${ports.AI_PORT}`,
    AI_DEFAULT_MODEL: "anthropic/sim@tokens=4",
    FLY_MACHINE_ID: created.machineId ?? "",
    SUPERVISOR_READY_TIMEOUT_MS: "30000",
  });
  vm = spawnPipbot(["start"], vmEnv);
  await waitFor(() => vm?.records().find((r) => r.event === "all_ready"), {
    timeoutMs: 45_000,
    what: "the VM's all_ready",
  }).catch((e: Error) => {
    throw new Error(`${e.message}; the VM's output:\n${vm?.output().slice(-4000)}`);
  });

  const chat = spawnPipbot(
    [
      "chat",
      "--url",
      `ws://127.0.0.1:${ports.GATEWAY_PORT}`,
      "--token",
      machineEnv.CLAWDBOT_GATEWAY_TOKEN!,
      "hello through the backend",
    ],
    childEnv(),
  );
  const code = await chat.exited;
  expect(chat.output()).toContain("You said: hello through the backend.");
  expect(code).toBe(0);

  // proxy-v1: one finalized usage row, billed to this user and machine
  const usage = await t.run((ctx) => ctx.db.query("usage").collect());
  expect(usage).toHaveLength(1);
  expect(usage[0]).toMatchObject({
    userId: USER,
    machineId: created.machineId,
    provider: "anthropic",
    status: "finalized",
    outputTokens: 4,
  });
  // sync-v1: the user's message and the reply reach the Convex tables
  const messages = await waitFor(
    async () => {
      const rows = await t.run((ctx) => ctx.db.query("messages").collect());
      return rows.length >= 2 ? rows : null;
    },
    { timeoutMs: 15_000, what: "both messages synced to Convex" },
  );
  expect(messages.map((m) => m.role).sort()).toEqual(["assistant", "user"]);
  expect(messages.every((m) => m.userId === USER && m.machineId === created.machineId)).toBe(true);
  expect(JSON.stringify(messages.find((m) => m.role === "assistant")?.content)).toContain(
    "You said: hello through the backend.",
  );
  const report = await t.query(internal.usage.report, {
    fromDay: usage[0]!.day,
    toDay: usage[0]!.day,
    userId: USER,
  });
  expect(report[0]).toMatchObject({ requests: 1, outputTokens: 4 });

  // no secret in any output: the VM's, the chat client's, the backend's log lines
  const secrets = [
    machineEnv.PIPBOT_SERVICE_TOKEN!,
    machineEnv.SYNC_SECRET!,
    machineEnv.CLAWDBOT_GATEWAY_TOKEN!,
    OPERATOR_KEY,
    fly.token,
  ];
  for (const s of secrets) {
    expect(vm.output()).not.toContain(s);
    expect(logs.lines.join("\n")).not.toContain(s);
  }
}, 90_000);
