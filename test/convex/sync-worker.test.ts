/**
 * The REAL sync worker against the REAL Convex receiver code: the in-process SyncRunner and a
 * `bun src/cli.ts sync` child process push over TCP to the loopback adapter, which hands each request
 * to convex-test's `t.fetch`. Every local message ends up in the Convex tables exactly once, a
 * replay changes nothing, and SIGKILL at random moments loses nothing.
 */
import { afterEach, beforeEach, expect, setDefaultTimeout, test } from "bun:test";
import { createLogger, memoryDestination } from "../../src/shared/log.ts";
import { openStore, type Store } from "../../src/shared/store/index.ts";
import { SyncRunner } from "../../src/sync/runner.ts";
import { type RunningProcess, tempDir, waitFor } from "../helpers/index.ts";
import { recordingSleep } from "../sync/harness.ts";
import { keepWriting, startSyncWorker } from "../sync/worker-process.ts";
import {
  type captureLogs,
  type Loopback,
  SYNC_SECRET,
  startUserLoopback,
  type TestConvex,
  USER,
  type UserLoopback,
} from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

let convex: UserLoopback;
let t: TestConvex;
let lb: Loopback;
let dir: { path: string; cleanup(): void };
let writer: Store;
let sessionId: string;
let logs: ReturnType<typeof captureLogs>;
const procs: RunningProcess[] = [];

beforeEach(async () => {
  convex = await startUserLoopback();
  ({ t, logs, lb } = convex);
  dir = tempDir("pipbot-convex-sync-");
  writer = openStore(dir.path);
  sessionId = writer.getOrCreateSession("main").id;
});
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
  await convex.stop();
  writer.close();
  dir.cleanup();
});

let n = 0;
function write(count: number): void {
  for (let i = 0; i < count; i++) {
    const c = n++;
    writer.appendMessage({
      sessionId,
      role: c % 2 ? "assistant" : "user",
      content: [{ type: "text", text: `m${c} ${"é".repeat(c % 7)}` }],
      ...(c % 2
        ? {
            model: "anthropic/sim",
            stopReason: "end_turn",
            usage: {
              inputTokens: 3,
              outputTokens: 5,
              cacheReadTokens: 1,
              cacheWriteTokens: 0,
              reasoningTokens: 0,
            },
          }
        : {}),
    });
  }
}

const convexMessages = () => t.run((ctx) => ctx.db.query("messages").collect());
const localRows = () =>
  writer.db.query("SELECT id, content, role FROM messages ORDER BY id").all() as {
    id: string;
    content: string;
    role: string;
  }[];

async function expectConvexHasExactlyTheLocalMessages() {
  const stored = await convexMessages();
  const local = localRows();
  expect(stored.length).toBe(local.length);
  const byId = new Map(stored.map((m) => [m.id, m]));
  for (const m of local) {
    const s = byId.get(m.id);
    expect(s?.userId).toBe(USER);
    expect(s?.content).toEqual(JSON.parse(m.content));
    expect(s?.role).toBe(m.role as "user" | "assistant");
  }
  const conv = await t.run((ctx) => ctx.db.query("conversations").collect());
  expect(conv).toHaveLength(1);
  expect(conv[0]!.messageCount).toBe(local.length);
}

test("in-process runner: a backlog drains into the Convex tables; a full replay changes nothing", async () => {
  write(450);
  const store = openStore(dir.path);
  const runner = new SyncRunner({
    store,
    target: { siteUrl: lb.url, userId: USER, machineId: "m-1", secret: SYNC_SECRET, timeoutMs: 10_000 },
    logger: createLogger({
      proc: "sync",
      level: "info",
      destination: memoryDestination(),
      secrets: [SYNC_SECRET],
    }),
    sleep: recordingSleep([]),
    backoff: { baseMs: 10, capMs: 100 },
    authRetryMs: 20,
    pollIntervalMs: 5,
    quarantineAfter: 3,
  });
  void runner.start();
  try {
    await waitFor(() => writer.outboxStats().pending === 0, { timeoutMs: 30_000, what: "450 delivered" });
    await expectConvexHasExactlyTheLocalMessages();
    const before = await convexMessages();
    // Replay everything: the worker re-sends the whole outbox; the receiver's upsert absorbs it.
    writer.db.run("UPDATE outbox SET delivered_at = NULL");
    await waitFor(() => writer.outboxStats().pending === 0, { timeoutMs: 30_000, what: "replay delivered" });
    expect(await convexMessages()).toEqual(before);
    const pushes = logs.lines.map((l) => JSON.parse(l)).filter((l) => l.event === "sync_push");
    expect(pushes.reduce((a, l) => a + (l.duplicates ?? 0), 0)).toBe(450);
    expect(pushes.every((l) => l.status === 200)).toBe(true);
    expect(logs.lines.join("\n")).not.toContain(SYNC_SECRET);
  } finally {
    await runner.stop(100);
    store.close();
  }
});

test("child process: SIGKILL at random moments while another writer writes; Convex ends with exactly the local messages", async () => {
  const start = async () =>
    (
      await startSyncWorker(procs, dir.path, {
        CONVEX_SITE_URL: lb.url,
        CLERK_USER_ID: USER,
        SYNC_SECRET,
        FLY_MACHINE_ID: "m-1",
      })
    ).p;
  write(300);
  const writing = keepWriting(write);
  try {
    for (let round = 0; round < 5; round++) {
      const before = logs.lines.length;
      const p = await start();
      if (round % 2 === 0)
        await waitFor(() => logs.lines.length > before, { what: `round ${round}: a push` });
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 30))); // a random instant
      p.kill("SIGKILL");
      expect(await p.exited).not.toBe(0);
    }
  } finally {
    await writing.stop();
  }
  const final = await start();
  await waitFor(async () => writer.outboxStats().pending === 0 && lb.inFlight() === 0, {
    timeoutMs: 30_000,
    what: "everything delivered after the kills",
  });
  await expectConvexHasExactlyTheLocalMessages();
  expect(final.output()).not.toContain(SYNC_SECRET);
  final.kill("SIGTERM");
  expect(await final.exited).toBe(0);
});
