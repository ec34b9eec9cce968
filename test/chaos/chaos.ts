/**
 * The chaos suite (issue 11): the whole runtime — `pipbot start` with the AI server on the upstream
 * simulator, the sync worker pushing to the fake sync-v1 receiver (which fails a share of pushes:
 * 503s and connection resets), the real gateway — under concurrent chat load with reconnects and
 * idempotent re-sends, while children and the whole process tree are SIGKILLed at random moments
 * (seeded; the seed is printed and `CHAOS_SEED` replays the schedule). After a kill of the
 * supervisor the runtime is started again on the same DATA_DIR. At the end it checks:
 *   - no accepted message lost: every chat.send the gateway accepted has its user message stored;
 *   - none doubled: each message text stored once, at most one assistant entry per run attempt;
 *   - every accepted send terminal: the client saw a terminal state and the run ended in the store;
 *   - visible in chat.history: after the runs, each accepted send shows in its session's history
 *     as the user's message followed by an assistant entry (the reply or a failed-turn entry);
 *   - receiver == store: the receiver holds exactly the store's messages, same text;
 *   - each killed child restarted (by the same supervisor, with a new pid), unless that supervisor
 *     was itself killed first; no child outlived a killed supervisor;
 *   - the runtime is ready at the end and stops cleanly (exit 0).
 * Used by test/chaos/chaos.test.ts (short, CI) and bench/chaos.ts (long, figures in RESULTS.md).
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { basename, join } from "node:path";
import { startUpstreamSim } from "../../src/dev/upstream-sim.ts";
import { openStore } from "../../src/shared/store/index.ts";
import { type SyncReceiver, startSyncReceiver } from "../fakes/sync-receiver.ts";
import {
  CLI,
  childEnv,
  freePort,
  type RunningProcess,
  spawnPipbot,
  tempDir,
  waitFor,
} from "../helpers/index.ts";
import { ChaosClient, TERMINAL_SEND_STATUSES } from "./client.ts";

export interface ChaosOptions {
  seed: number;
  /** How long the load and the kills go on. */
  durationMs: number;
  clients: number;
  /** A kill every killMinMs..killMaxMs. */
  killMinMs: number;
  killMaxMs: number;
  /** Share of sync pushes the receiver fails (503 or a reset connection). */
  pushFailShare: number;
  /** Share of sends after which the client drops its connection and re-sends the same key. */
  reconnectShare: number;
  /**
   * A deliberate fault, to prove the suite can fail:
   *  - "resend-new-key": clients re-send after a reconnect with a NEW idempotency key → doubled;
   *  - "drop-message": one stored user message is deleted before the checks → lost, receiver ≠ store.
   */
  fault?: "resend-new-key" | "drop-message" | undefined;
  log?: (line: string) => void;
}

export interface Kill {
  at: number;
  kind: "child" | "tree" | "supervisor";
  child?: string;
  pid: number;
  run: number;
  /** child kills: restarted by the same supervisor (null: that supervisor was killed first). */
  restarted?: boolean | null;
}

export interface ChaosReport {
  seed: number;
  durationMs: number;
  clients: number;
  sends: number;
  accepted: number;
  clientTerminal: Record<string, number>;
  storeRuns: Record<string, number>;
  kills: Kill[];
  supervisorRuns: number;
  pushes: { total: number; failed: number };
  messagesStored: number;
  violations: string[];
}

/** mulberry32: a small seeded generator (the schedule is replayable from the printed seed). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKEN = "chaos-gateway-token-0123456789";
const USER = "user_chaos";
const SECRET = "chaos-sync-secret-0123456789abcdef";
const CHILDREN = ["ai", "sync", "gateway"] as const;

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once("error", () => res(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
  });
}

/** The receiver fails a share of pushes: its `failNext` list, drawn from the seeded generator. */
class RandomFailures extends Array<{ status: number }> {
  static override get [Symbol.species]() {
    return Array;
  }
  constructor(
    private readonly draw: () => number,
    private readonly share: number,
    private readonly rx: () => SyncReceiver | undefined,
  ) {
    super();
  }
  override shift(): { status: number } | undefined {
    const r = this.draw();
    if (r >= this.share) return undefined;
    // Half the failures are a reset connection on the NEXT request (no answer at all).
    const rx = this.rx();
    if (r < this.share / 2 && rx) rx.faults.resetNext = 1;
    return { status: 503 };
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  // Three generators from the seed, so the kill schedule (when, what) replays exactly whatever the
  // timing of the receiver's and the clients' draws.
  const draw = rng(o.seed);
  const rxDraw = rng(o.seed ^ 0x5bd1e995);
  const clientDraw = rng(o.seed ^ 0x27d4eb2f);
  const violations: string[] = [];
  const t0 = Date.now();
  log(`chaos: seed ${o.seed} (replay with CHAOS_SEED=${o.seed}), ${o.clients} clients, ${o.durationMs} ms`);

  const sim = await startUpstreamSim();
  let rxRef: SyncReceiver | undefined;
  const rx = await startSyncReceiver({ secret: SECRET, userId: USER });
  rxRef = rx;
  rx.faults.failNext = new RandomFailures(rxDraw, o.pushFailShare, () => rxRef);
  const data = tempDir("pipbot-chaos-");
  const ports = {
    AI_PORT: String(await freePort()),
    SYNC_STATUS_PORT: String(await freePort()),
    GATEWAY_PORT: String(await freePort()),
  };
  const env = childEnv({
    ...ports,
    DATA_DIR: data.path,
    ANTHROPIC_BASE_URL: sim.url,
    ANTHROPIC_API_KEY: "sim",
    AI_DEFAULT_MODEL: "anthropic/sim@tokens=12,rate=80",
    PIPBOT_SIMULATOR: "1",
    AI_URL: `http://127.0.0.1:${ports.AI_PORT}`,
    CLAWDBOT_GATEWAY_TOKEN: TOKEN,
    SYNC_BACKOFF_BASE_MS: "50",
    SYNC_BACKOFF_CAP_MS: "400",
    SUPERVISOR_CRASH_LOOP_RESTARTS: "10000",
    SUPERVISOR_BACKOFF_INITIAL_MS: "50",
    SUPERVISOR_BACKOFF_MAX_MS: "400",
    SUPERVISOR_READY_TIMEOUT_MS: "30000",
    SUPERVISOR_GRACE_MS: "3000",
    SUPERVISOR_SHUTDOWN_BUDGET_MS: "12000",
  });
  const wsUrl = `ws://127.0.0.1:${ports.GATEWAY_PORT}`;
  // Sync's Convex variables go to the sync worker alone, on its Procfile line (run by /bin/sh):
  // in the shared environment CONVEX_* would switch the AI server to the usage proxy and make the
  // gateway require PIPBOT_SERVICE_TOKEN (issue 11 finding 7, AI_UPSTREAM, is i10's).
  const procfile = join(data.path, "..", `${basename(data.path)}.Procfile`);
  writeFileSync(
    procfile,
    [
      `ai: exec bun ${CLI} ai`,
      `sync: CONVEX_SITE_URL=${rx.url} CLERK_USER_ID=${USER} SYNC_SECRET=${SECRET} exec bun ${CLI} sync`,
      `gateway: exec bun ${CLI} gateway`,
      "",
    ].join("\n"),
  );

  const runs: RunningProcess[] = [];
  const current = () => runs[runs.length - 1] as RunningProcess;
  const allReady = (p: RunningProcess, timeoutMs = 60_000) =>
    waitFor(() => p.records().some((r) => r.event === "all_ready"), {
      timeoutMs,
      what: `runtime ${runs.indexOf(p) + 1} ready`,
    });
  const childPids = (p: RunningProcess): Map<string, number> => {
    const m = new Map<string, number>();
    for (const r of p.records()) if (r.event === "child_start") m.set(String(r.child), Number(r.pid));
    return m;
  };
  const startRuntime = async () => {
    runs.push(spawnPipbot(["start", "--procfile", procfile], env));
    await allReady(current());
  };
  const cleanupAll = async () => {
    for (const p of runs) {
      p.kill("SIGKILL");
      for (const pid of childPids(p).values())
        try {
          process.kill(-pid, "SIGKILL");
        } catch {}
    }
  };

  // ---- load ------------------------------------------------------------------------------------
  const sent = new Map<string, { sessionKey: string; text: string }>();
  const accepted = new Set<string>();
  const terminalSeen = new Map<string, string>();
  let loadOver = false;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  async function connectUntil(deadline: number): Promise<ChaosClient | null> {
    while (Date.now() < deadline) {
      try {
        return await ChaosClient.connect(wsUrl, TOKEN, 3_000);
      } catch {
        await sleep(100);
      }
    }
    return null;
  }

  async function sendUntilTerminal(client: { c: ChaosClient | null }, key: string, i: number, n: number) {
    const sessionKey = `chaos-${i}-${Math.floor(n / 40)}`;
    const text = `chaos ${key}`;
    sent.set(key, { sessionKey, text });
    const deadline = Date.now() + 120_000;
    let attempt = 0;
    while (Date.now() < deadline) {
      if (!client.c || client.c.closed) client.c = await connectUntil(deadline);
      const c = client.c;
      if (!c) break;
      const sendKey = o.fault === "resend-new-key" && attempt > 0 ? `${key}-r${attempt}` : key;
      attempt++;
      try {
        const res = await c.call("chat.send", { sessionKey, message: text, idempotencyKey: sendKey }, 10_000);
        if (res.ok !== true) {
          await sleep(100); // e.g. UNAVAILABLE while stopping: retry the same key
          continue;
        }
        accepted.add(key);
        const status = String((res.payload as { status?: string }).status);
        if (TERMINAL_SEND_STATUSES.has(status)) {
          terminalSeen.set(key, status === "ok" ? "final" : status);
          return;
        }
        if (clientDraw() < o.reconnectShare) {
          c.close(); // a client that drops its connection mid-run, then re-sends the same key
          continue;
        }
        await waitFor(() => c.terminal.has(sendKey) || c.closed, { timeoutMs: 3_000 }).catch(() => {});
        const state = c.terminal.get(sendKey);
        if (state) {
          terminalSeen.set(key, state);
          return;
        }
        // No terminal event here (closed, or the run belongs to an earlier connection): re-send.
      } catch {
        client.c?.close();
        client.c = null;
      }
    }
  }

  async function clientLoop(i: number): Promise<void> {
    const client: { c: ChaosClient | null } = { c: null };
    for (let n = 0; !loadOver; n++) await sendUntilTerminal(client, `k${o.seed}-${i}-${n}`, i, n);
    client.c?.close();
  }

  // ---- kills -----------------------------------------------------------------------------------
  const kills: Kill[] = [];
  async function killer(): Promise<void> {
    const end = t0 + o.durationMs;
    while (Date.now() < end) {
      await sleep(o.killMinMs + draw() * (o.killMaxMs - o.killMinMs));
      if (Date.now() >= end) break;
      const p = current();
      const pids = childPids(p);
      const r = draw();
      const run = runs.length;
      if (r < 0.7) {
        const child = CHILDREN[Math.floor(draw() * CHILDREN.length)] as string;
        const pid = pids.get(child);
        if (!pid || !isAlive(pid)) continue;
        kills.push({ at: Date.now() - t0, kind: "child", child, pid, run });
        log(`chaos: +${Date.now() - t0} ms SIGKILL ${child} (pid ${pid})`);
        process.kill(pid, "SIGKILL");
        continue;
      }
      const kind = r < 0.85 ? "tree" : "supervisor";
      kills.push({ at: Date.now() - t0, kind, pid: p.proc.pid, run });
      log(`chaos: +${Date.now() - t0} ms SIGKILL ${kind === "tree" ? "the whole tree" : "the supervisor"}`);
      p.kill("SIGKILL");
      if (kind === "tree")
        for (const pid of pids.values())
          try {
            process.kill(-pid, "SIGKILL");
          } catch {}
      await p.exited;
      const left = [...pids.values()];
      await waitFor(() => left.every((pid) => !isAlive(pid)), { timeoutMs: 20_000 }).catch(() =>
        violations.push(
          `children ${left.filter(isAlive).join(", ")} outlived their supervisor (killed at +${Date.now() - t0} ms)`,
        ),
      );
      for (const port of Object.values(ports).map(Number))
        await waitFor(() => portFree(port), { timeoutMs: 10_000 }).catch(() =>
          violations.push(`port ${port} still taken after the tree died`),
        );
      await startRuntime();
    }
  }

  let report: ChaosReport | undefined;
  try {
    await startRuntime();
    const clients = Array.from({ length: o.clients }, (_, i) => clientLoop(i));
    await killer();
    loadOver = true;
    await Promise.all(clients);
    log(`chaos: load over after ${Date.now() - t0} ms; ${sent.size} sends; checking`);

    // ---- the end state -----------------------------------------------------------------------
    const final = current();
    await allReady(final).catch((e) => violations.push(`runtime not ready at the end: ${e}`));
    const readyz = await waitFor(
      async () => (await fetch(`http://127.0.0.1:${ports.GATEWAY_PORT}/readyz`).catch(() => null))?.ok,
      { timeoutMs: 30_000, what: "gateway /readyz" },
    ).catch(() => false);
    if (!readyz) violations.push("gateway /readyz not 200 at the end");

    // Each killed child restarted by the same supervisor (unless that supervisor died first).
    for (const k of kills.filter((x) => x.kind === "child")) {
      const p = runs[k.run - 1] as RunningProcess;
      const superseded = k.run < runs.length;
      const restartedWith = p
        .records()
        .some((r) => r.event === "child_ready" && r.child === k.child && Number(r.pid) !== k.pid);
      k.restarted = restartedWith ? true : superseded ? null : false;
      if (k.restarted === false)
        violations.push(`${k.child} (pid ${k.pid}, killed at +${k.at} ms) was not restarted`);
    }

    // History, read through the gateway by a fresh client.
    const historyOf = new Map<string, { role: string; content: { text: string }[]; stopReason?: string }[]>();
    const reader = await connectUntil(Date.now() + 20_000);
    if (!reader) violations.push("cannot connect to the gateway at the end");
    for (const sessionKey of new Set([...sent.values()].map((s) => s.sessionKey))) {
      const h = await reader?.call("chat.history", { sessionKey, limit: 1000 });
      historyOf.set(
        sessionKey,
        ((h?.payload as { messages?: [] } | undefined)?.messages ?? []) as {
          role: string;
          content: { text: string }[];
        }[],
      );
    }
    reader?.close();

    // Sync drained: the receiver holds every stored message.
    const syncStatus = async () =>
      (await (await fetch(`http://127.0.0.1:${ports.SYNC_STATUS_PORT}/status`)).json()) as {
        pending: number;
      };
    await waitFor(async () => (await syncStatus()).pending === 0, {
      timeoutMs: 60_000,
      what: "sync outbox drained",
    }).catch((e) => violations.push(String(e)));

    final.kill("SIGTERM");
    const code = await final.exited;
    if (code !== 0) violations.push(`the final runtime exited ${code} on SIGTERM, not 0`);

    const store = openStore(data.path);
    if (o.fault === "drop-message") {
      const victim = store.db.query("SELECT id FROM messages WHERE role = 'user' LIMIT 1").get() as {
        id: string;
      } | null;
      if (victim) {
        store.db.query("DELETE FROM outbox WHERE message_id = ?").run(victim.id);
        store.db.query("DELETE FROM messages WHERE id = ?").run(victim.id);
      }
    }
    const messages = store.db.query("SELECT id, run_id AS runId, role, content FROM messages").all() as {
      id: string;
      runId: string | null;
      role: string;
      content: string;
    }[];
    const runStates = store.db.query("SELECT run_id AS runId, state, attempts FROM runs").all() as {
      runId: string;
      state: string;
      attempts: number;
    }[];
    store.close();
    const textOf = (m: { content: string }) =>
      (JSON.parse(m.content) as { text?: string }[]).map((b) => b.text ?? "").join("");

    // Lost / doubled.
    const userTexts = new Map<string, number>();
    for (const m of messages.filter((x) => x.role === "user"))
      userTexts.set(textOf(m), (userTexts.get(textOf(m)) ?? 0) + 1);
    const assistantPerRun = new Map<string, number>();
    for (const m of messages.filter((x) => x.role === "assistant" && x.runId))
      assistantPerRun.set(m.runId as string, (assistantPerRun.get(m.runId as string) ?? 0) + 1);
    const lost = [...accepted].filter((k) => !userTexts.has((sent.get(k) as { text: string }).text));
    if (lost.length) violations.push(`${lost.length} accepted messages lost: ${lost.slice(0, 5).join(", ")}`);
    const doubled = [...userTexts].filter(([, n]) => n > 1).map(([t]) => t);
    if (doubled.length)
      violations.push(`${doubled.length} messages doubled: ${doubled.slice(0, 5).join(", ")}`);
    // One assistant entry per attempt of a run: a same-key re-send of a turn that ended error or
    // interrupted runs it again (docs/GATEWAY.md), after the failed attempt's entry.
    const attemptsOf = new Map(runStates.map((r) => [r.runId, r.attempts]));
    const twice = [...assistantPerRun].filter(([r, n]) => n > (attemptsOf.get(r) ?? 1)).map(([r]) => r);
    if (twice.length)
      violations.push(
        `${twice.length} runs with more assistant entries than attempts: ${twice.slice(0, 5).join(", ")}`,
      );

    // Terminal: seen by the client and ended in the store.
    const stateOf = new Map(runStates.map((r) => [r.runId, r.state]));
    const notTerminal = [...accepted].filter(
      (k) => !terminalSeen.has(k) || (stateOf.get(k) ?? "running") === "running",
    );
    if (notTerminal.length)
      violations.push(
        `${notTerminal.length} accepted sends not terminal: ${notTerminal
          .slice(0, 5)
          .map((k) => `${k} (client ${terminalSeen.get(k) ?? "none"}, store ${stateOf.get(k) ?? "no run"})`)
          .join(", ")}`,
      );

    // Visible in chat.history: the user's message, then an assistant entry.
    const invisible = [...accepted].filter((k) => {
      const { sessionKey, text } = sent.get(k) as { sessionKey: string; text: string };
      const h = historyOf.get(sessionKey) ?? [];
      const i = h.findIndex((m) => m.role === "user" && m.content.map((b) => b.text).join("") === text);
      return i < 0 || h[i + 1]?.role !== "assistant";
    });
    if (invisible.length)
      violations.push(
        `${invisible.length} accepted sends without their turn in chat.history (user message then an assistant entry): ${invisible.slice(0, 5).join(", ")}`,
      );

    // Receiver == store.
    const rxById = new Map([...rx.store.values()].map((e) => [e.id, e]));
    const storeIds = new Set(messages.map((m) => m.id));
    const missing = messages.filter((m) => !rxById.has(m.id));
    const extra = [...rxById.keys()].filter((id) => !storeIds.has(id));
    const differ = messages.filter((m) => {
      const e = rxById.get(m.id);
      return e && e.content.map((b) => b.text).join("") !== textOf(m);
    });
    if (missing.length || extra.length || differ.length || rx.conflicts)
      violations.push(
        `receiver != store: ${missing.length} missing, ${extra.length} extra, ${differ.length} differ, ${rx.conflicts} conflicting replays`,
      );

    const count = (xs: string[]) => {
      const out: Record<string, number> = {};
      for (const x of xs) out[x] = (out[x] ?? 0) + 1;
      return out;
    };
    report = {
      seed: o.seed,
      durationMs: Date.now() - t0,
      clients: o.clients,
      sends: sent.size,
      accepted: accepted.size,
      clientTerminal: count([...terminalSeen.values()]),
      storeRuns: count(runStates.map((r) => r.state)),
      kills,
      supervisorRuns: runs.length,
      pushes: {
        total: rx.requests.length,
        failed: rx.requests.filter((r) => r.status !== 200).length,
      },
      messagesStored: messages.length,
      violations,
    };
    return report;
  } finally {
    if (!report) {
      log(`chaos: aborted; violations so far: ${violations.join("; ") || "none"}`);
      log(`chaos: last output of the current runtime:\n${runs.at(-1)?.output().slice(-3000) ?? ""}`);
    }
    loadOver = true;
    await cleanupAll();
    await sim.stop();
    await rx.stop();
    data.cleanup();
    rmSync(procfile, { force: true });
  }
}

/** A one-paragraph summary of a report (printed by the test and the bench). */
export function summary(r: ChaosReport): string {
  const byKind = r.kills.reduce<Record<string, number>>((a, k) => {
    const key = k.kind === "child" ? `${k.child}` : k.kind;
    a[key] = (a[key] ?? 0) + 1;
    return a;
  }, {});
  return [
    `chaos seed ${r.seed}: ${r.clients} clients, ${(r.durationMs / 1000).toFixed(1)} s, ${r.sends} sends, ${r.accepted} accepted`,
    `  client terminal states: ${JSON.stringify(r.clientTerminal)}; store runs: ${JSON.stringify(r.storeRuns)}`,
    `  kills: ${r.kills.length} ${JSON.stringify(byKind)}; supervisor runs: ${r.supervisorRuns}`,
    `  sync pushes: ${r.pushes.total}, failed ${r.pushes.failed}; messages stored: ${r.messagesStored}`,
    `  violations: ${r.violations.length ? `\n    - ${r.violations.join("\n    - ")}` : "none"}`,
  ].join("\n");
}
