/**
 * Per-user attribution in the separate deployment, end to end with real processes: ONE shared AI
 * server app (fly.toml's [env]: a non-loopback bind, so AI_SERVER_TOKEN is required) in proxy-v1
 * mode against the fake Convex usage proxy, and TWO users' VMs, each `pipbot start --only
 * gateway,sync` with deploy/fly-separate-vm.toml's [env] and its own provisioning
 * (CLERK_USER_ID, PIPBOT_SERVICE_TOKEN, SYNC_SECRET, its own sync receiver). A chat on each VM
 * reaches the proxy with THAT VM's user id and token (the proxy accepts a token only for its own
 * user), the AI server's usage rows carry each user, and no token shows in any output.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { dbPath } from "../../src/shared/store/index.ts";
import { type FakeConvexProxy, startFakeConvexProxy } from "../fakes/convex-proxy.ts";
import { type SyncReceiver, startSyncReceiver } from "../fakes/sync-receiver.ts";
import { childEnv, freePort, type RunningProcess, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { spawnAiApp, httpStatus as status, VM, VM_ARGS } from "./lib/separate-apps.ts";

const AI_TOKEN = "identity-ai-token-0123456789abcdef";
// The AI app's own provisioning (whom a call without a forwarded identity would bill).
const APP_USER = "user_ai_app_itself";
const APP_TOKEN = "svc-token-ai-app-0123456789";
interface Vm {
  name: string;
  user: string;
  token: string;
  syncSecret: string;
  gatewayToken: string;
  dir: ReturnType<typeof tempDir>;
  port: number;
  syncPort: number;
  rx?: SyncReceiver;
  proc?: RunningProcess;
}
const vms: Vm[] = ["a", "b"].map((n) => ({
  name: n,
  user: `user_vm_${n}_2x9`,
  token: `svc-token-vm-${n}-${n}${n}${n}-0123456789`,
  syncSecret: `sync-secret-vm-${n}-0123456789`,
  gatewayToken: `gateway-token-vm-${n}-0123`,
  dir: tempDir(`pipbot-identity-vm-${n}-`),
  port: 0,
  syncPort: 0,
}));
const aiDir = tempDir("pipbot-identity-ai-");
const SECRETS = [AI_TOKEN, APP_TOKEN, ...vms.flatMap((v) => [v.token, v.syncSecret, v.gatewayToken])];

let sim: UpstreamSim;
let proxy: FakeConvexProxy;
let ai: RunningProcess;
let aiUrl = "";
const others: RunningProcess[] = [];

function usageRows(): Record<string, unknown>[] {
  const db = new Database(dbPath(aiDir.path), { readonly: true });
  try {
    return db.query("SELECT * FROM usage ORDER BY id").all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

describe("separate mode: one shared AI server bills each user's VM to that user", () => {
  beforeAll(async () => {
    sim = await startUpstreamSim();
    proxy = await startFakeConvexProxy({
      upstream: sim.url,
      userId: APP_USER,
      serviceToken: APP_TOKEN,
      users: Object.fromEntries(vms.map((v) => [v.user, v.token])),
    });
    ({ proc: ai, url: aiUrl } = await spawnAiApp({
      token: AI_TOKEN,
      dataDir: aiDir.path,
      env: {
        CONVEX_SITE_URL: proxy.url,
        CLERK_USER_ID: APP_USER,
        PIPBOT_SERVICE_TOKEN: APP_TOKEN,
        AI_DEFAULT_MODEL: "anthropic/sim@tokens=4",
      },
    }));

    expect(VM_ARGS).toEqual(["start", "--only", "gateway,sync"]);
    for (const v of vms) {
      v.rx = await startSyncReceiver({ secret: v.syncSecret, userId: v.user });
      v.port = await freePort();
      v.syncPort = await freePort();
      v.proc = spawnPipbot(
        VM_ARGS,
        childEnv({
          ...VM.env,
          DATA_DIR: v.dir.path,
          GATEWAY_PORT: String(v.port),
          SYNC_STATUS_PORT: String(v.syncPort),
          CLAWDBOT_GATEWAY_TOKEN: v.gatewayToken,
          AI_URL: aiUrl,
          AI_SERVER_TOKEN: AI_TOKEN,
          // The VM's provisioning, as on Fly (secrets): sync and the gateway's forwarded identity.
          CONVEX_SITE_URL: v.rx.url,
          CLERK_USER_ID: v.user,
          PIPBOT_SERVICE_TOKEN: v.token,
          SYNC_SECRET: v.syncSecret,
        }),
      );
    }
    for (const v of vms)
      await waitFor(async () => (await status(`http://127.0.0.1:${v.port}/readyz`)) === 200, {
        timeoutMs: 30_000,
        what: `VM ${v.name}'s gateway /readyz`,
      });
  }, 60_000);

  afterAll(async () => {
    for (const p of [...vms.map((v) => v.proc), ai, ...others]) p?.kill("SIGTERM");
    await Promise.all([...vms.map((v) => v.proc?.exited), ai?.exited, ...others.map((p) => p.exited)]);
    for (const v of vms) await v.rx?.stop();
    await proxy?.stop();
    await sim?.stop();
    for (const d of [aiDir, ...vms.map((v) => v.dir)]) d.cleanup();
  });

  test("each VM's chat reaches the proxy with its own user id and token; usage rows carry each user", async () => {
    for (const v of vms) {
      const before = proxy.requests.length;
      const chat = spawnPipbot(
        ["chat", "--url", `ws://127.0.0.1:${v.port}`, "--token", v.gatewayToken, `hello from VM ${v.name}`],
        childEnv(),
      );
      others.push(chat);
      const code = await chat.exited;
      expect(chat.output()).toContain(`You said: hello from VM ${v.name}.`);
      expect(code).toBe(0);
      const seen = proxy.requests.slice(before);
      expect(seen.length).toBeGreaterThan(0);
      for (const r of seen) {
        expect(r.rejected).toBeUndefined();
        expect(r.status).toBe(200);
        expect(r.userId).toBe(v.user);
        expect(r.serviceToken).toBe(v.token);
      }
      // The SDK credential was this VM's token too (the proxy checks it equals the service token).
      expect(sim.requests.at(-1)?.headers.authorization).toBe(`Bearer ${v.token}`);
    }
    // Nothing was billed to the AI app's own identity.
    expect(proxy.requests.some((r) => r.userId === APP_USER || r.serviceToken === APP_TOKEN)).toBe(false);

    const rows = await waitFor(() => (usageRows().length >= vms.length ? usageRows() : null), {
      what: "the AI server's usage rows",
    });
    expect(rows.map((r) => r.user_id)).toEqual(vms.map((v) => v.user));
    expect(rows.every((r) => r.status === "ok")).toBe(true);
    for (const v of vms) {
      const res = await fetch(`${aiUrl}/usage?user=${v.user}`, {
        headers: { authorization: `Bearer ${AI_TOKEN}` },
      });
      const body = (await res.json()) as { totals: { requests: number; outputTokens: number }[] };
      expect(body.totals.map((t) => t.requests)).toEqual([1]);
    }
    // The AI server's log line names the user of each request.
    await waitFor(() => ai.records().filter((r) => r.msg === "chat request").length >= vms.length, {
      what: "the AI server's request log lines",
    });
    const users = ai
      .records()
      .filter((r) => r.msg === "chat request")
      .map((r) => r.userId);
    expect(users).toEqual(vms.map((v) => v.user));
    // Sync kept working with the same provisioning: each VM's messages reach its own receiver.
    for (const v of vms)
      await waitFor(
        () => [...(v.rx?.store.values() ?? [])].some((e) => e.userId === v.user && e.role === "assistant"),
        {
          timeoutMs: 15_000,
          what: `VM ${v.name}'s synced reply`,
        },
      ).catch(async (e) => {
        // Say why (a rare full-suite flake): the sync worker's own status and the VM's last output.
        const st = await fetch(`http://127.0.0.1:${v.syncPort}/status`)
          .then((r) => r.text())
          .catch((err) => String(err));
        throw new Error(
          `${String(e)}\nsync /status: ${st}\nreceiver entries: ${v.rx?.store.size}\nVM output (tail):\n${v.proc?.output().slice(-4000)}`,
        );
      });
  }, 60_000);

  test("no token or secret appears in any process's output", async () => {
    for (const p of [ai, ...vms.map((v) => v.proc as RunningProcess), ...others])
      for (const s of SECRETS) expect(p.output()).not.toContain(s);
    // The gateways did log whom they forward (the user id is not a secret).
    for (const v of vms) {
      const ready = v.proc?.records().find((r) => r.event === "gateway_ready");
      expect(ready?.aiUserId).toBe(v.user);
    }
  });

  test("a VM gateway with only one of CLERK_USER_ID / PIPBOT_SERVICE_TOKEN refuses to start (exit 78, naming the missing one)", async () => {
    const d = tempDir("pipbot-identity-bad-");
    try {
      for (const [given, missing] of [
        [{ CLERK_USER_ID: "user_only" }, "PIPBOT_SERVICE_TOKEN"],
        [{ PIPBOT_SERVICE_TOKEN: "svc-token-alone-0123456789" }, "CLERK_USER_ID"],
      ] as const) {
        const p = spawnPipbot(
          ["gateway"],
          childEnv({
            DATA_DIR: d.path,
            GATEWAY_PORT: String(await freePort()),
            AI_URL: aiUrl,
            AI_SERVER_TOKEN: AI_TOKEN,
            ...given,
          }),
        );
        expect(await p.exited).toBe(78);
        expect(p.output()).toContain(`${missing}: is required because`);
        expect(p.output()).not.toContain("svc-token-alone-0123456789");
        expect(p.output()).not.toContain(AI_TOKEN);
      }
    } finally {
      d.cleanup();
    }
  });
});
