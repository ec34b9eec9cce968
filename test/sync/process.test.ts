/**
 * The sync worker as a REAL child process (`bun src/cli.ts sync`) against a real SQLite file and the
 * fake sync-v1 receiver: disabled mode keeps the outbox and the next configured start drains it;
 * SIGTERM stops gracefully without acking an unanswered push; repeated SIGKILLs while another
 * writer keeps writing lose nothing and duplicate nothing.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { openStore, type Store } from "../../src/shared/store/index.ts";
import { type SyncReceiver, startSyncReceiver, storeKey } from "../fakes/sync-receiver.ts";
import { childEnv, freePort, type RunningProcess, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { isAscending, localIds, SECRET, USER } from "./harness.ts";
import { keepWriting, startSyncWorker } from "./worker-process.ts";

let dir: { path: string; cleanup(): void };
let writer: Store;
let rx: SyncReceiver;
let sessionId: string;
const procs: RunningProcess[] = [];

beforeEach(async () => {
  dir = tempDir("pipbot-syncproc-");
  writer = openStore(dir.path);
  sessionId = writer.getOrCreateSession("main").id;
  rx = await startSyncReceiver({ secret: SECRET, userId: USER });
});
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
  await rx.stop();
  writer.close();
  dir.cleanup();
});

let n = 0;
function write(count: number): void {
  for (let i = 0; i < count; i++) {
    writer.appendMessage({
      sessionId,
      role: n % 2 ? "assistant" : "user",
      content: [{ type: "text", text: `m${n++}` }],
    });
  }
}

const startWorker = (extra: Record<string, string> = {}, configured = true) =>
  startSyncWorker(procs, dir.path, {
    ...(configured ? { CONVEX_SITE_URL: rx.url, CLERK_USER_ID: USER, SYNC_SECRET: SECRET } : {}),
    ...extra,
  });

const pending = () => writer.outboxStats().pending;

describe("sync worker process", () => {
  test("disabled: says so once, keeps the outbox, serves status; the next configured start drains it", async () => {
    write(20);
    const off = await startWorker({}, false);
    const s = await off.status();
    expect(s).toMatchObject({
      state: "disabled",
      pending: 20,
      delivered: 0,
      quarantined: 0,
      lastError: null,
    });
    expect(typeof s.oldestPendingAgeMs).toBe("number");
    write(5); // the gateway keeps writing while sync is disabled
    await waitFor(async () => (await off.status()).pending === 25, { what: "status sees new rows" });
    off.p.kill("SIGTERM");
    expect(await off.p.exited).toBe(0);
    // No Convex target is expected locally: said once, at info level (a warning would read like a fault).
    expect(off.p.records().filter((r) => r.event === "sync_disabled")).toEqual([
      expect.objectContaining({ level: "info", msg: expect.stringContaining("kept in the outbox") }),
    ]);
    expect(off.p.records().filter((r) => r.level === "warn" || r.level === "error")).toEqual([]);
    expect(off.p.records().filter((r) => r.msg === "pipbot sync starting").length).toBe(1);
    expect(rx.requests.length).toBe(0);
    expect(writer.outboxStats()).toMatchObject({ pending: 25, delivered: 0 });

    // On a Fly machine (a hosted VM) no Convex target is a provisioning fault: a warning.
    const hosted = await startWorker({ FLY_MACHINE_ID: "m-unprovisioned" }, false);
    await hosted.status();
    hosted.p.kill("SIGTERM");
    expect(await hosted.p.exited).toBe(0);
    expect(hosted.p.records().filter((r) => r.event === "sync_disabled")).toEqual([
      expect.objectContaining({ level: "warn", msg: expect.stringContaining("Fly machine m-unprovisioned") }),
    ]);

    const on = await startWorker();
    await waitFor(
      async () => rx.store.size === 25 && (await on.status()).state === "idle" && pending() === 0,
      {
        what: "outbox drained after configuration appeared",
      },
    );
    expect(rx.ids()).toEqual(localIds(writer));
    on.p.kill("SIGINT");
    expect(await on.p.exited).toBe(0);
    const out = on.p.output();
    expect(out).not.toContain(SECRET);
    expect(out).not.toMatch(/v1=[0-9a-f]{64}/);
    expect(on.p.records().some((r) => r.event === "sync_batch" && r.outcome === "delivered")).toBe(true);
  });

  test("SIGTERM during an unanswered push: exits 0 within the grace period and acks nothing", async () => {
    rx.faults.delayMs = 30_000;
    write(8);
    const w = await startWorker({ SYNC_SHUTDOWN_GRACE_MS: "300" });
    await waitFor(() => rx.accepted.length === 1, { what: "push in flight" });
    w.p.kill("SIGTERM");
    expect(await w.p.exited).toBe(0);
    expect(writer.outboxStats()).toMatchObject({ pending: 8, delivered: 0 });
    expect(w.p.records().some((r) => r.outcome === "aborted")).toBe(true);
  });

  test("a second SIGTERM abandons the in-flight push at once, without waiting for the grace period", async () => {
    rx.faults.hold = new Promise(() => {}); // the receiver never answers
    write(5);
    // A grace period far beyond this test's deadline: only the second signal can end the process in time.
    const w = await startWorker({ SYNC_SHUTDOWN_GRACE_MS: "600000" });
    await waitFor(() => rx.accepted.length === 1, { what: "push in flight" });
    w.p.kill("SIGTERM");
    await waitFor(() => w.p.records().some((r) => r.event === "sync_stopping"), {
      what: "first SIGTERM seen",
    });
    w.p.kill("SIGTERM");
    expect(await w.p.exited).toBe(0);
    const stopping = w.p.records().filter((r) => r.event === "sync_stopping");
    expect(stopping.length).toBe(2);
    expect(String(stopping[1]!.msg)).toContain("again");
    expect(w.p.records().some((r) => r.outcome === "aborted")).toBe(true);
    expect(w.p.records().find((r) => r.event === "sync_stopped")).toMatchObject({ pending: 5, delivered: 0 });
    expect(writer.outboxStats()).toMatchObject({ pending: 5, delivered: 0 }); // upserted remotely, not acked
  });

  test("SIGTERM while a push is answered within the grace period: it is acked, then exit 0", async () => {
    const release = Promise.withResolvers<void>();
    rx.faults.hold = release.promise;
    write(7);
    const w = await startWorker({ SYNC_SHUTDOWN_GRACE_MS: "600000" });
    await waitFor(() => rx.accepted.length === 1, { what: "push in flight" });
    w.p.kill("SIGTERM");
    await waitFor(() => w.p.records().some((r) => r.event === "sync_stopping"), { what: "SIGTERM seen" });
    release.resolve();
    expect(await w.p.exited).toBe(0);
    expect(writer.outboxStats()).toMatchObject({ pending: 0, delivered: 7 });
    expect(rx.requests.length).toBe(1);
    expect(w.p.records().some((r) => r.event === "sync_batch" && r.outcome === "delivered")).toBe(true);
  });

  test("401: loud once, auth_error with a hint on /status, slow retry, recovery when Convex accepts again", async () => {
    rx.faults.authFail = true;
    write(4);
    const w = await startWorker({ SYNC_AUTH_RETRY_MS: "50" });
    await waitFor(() => rx.requests.length >= 3, { what: "several 401s" });
    const s = await w.status();
    expect(s).toMatchObject({ state: "auth_error", pending: 4, lastSuccessAt: null });
    expect(s.lastError).toMatchObject({ status: 401 });
    expect(String((s.lastError as { hint: string }).hint)).toContain("SYNC_SECRET");
    rx.faults.authFail = false;
    await waitFor(async () => pending() === 0 && (await w.status()).state === "idle", { what: "recovered" });
    const errors = w.p.records().filter((r) => r.level === "error");
    expect(errors.length).toBe(1);
    expect(errors[0]!.event).toBe("sync_auth_error");
    expect(w.p.records().some((r) => r.event === "sync_auth_recovered")).toBe(true);
    expect(typeof (await w.status()).lastSuccessAt).toBe("number");
    w.p.kill("SIGTERM");
    expect(await w.p.exited).toBe(0);
  });

  test("a poisoned entry: quarantined after N lone 400s, counted in /status, listed on /quarantine", async () => {
    write(3);
    const bad = writer.appendMessage({
      sessionId,
      role: "user",
      content: [{ type: "text", text: "poison" }],
    });
    write(3);
    rx.faults.poisonIds.add(bad.id);
    const w = await startWorker({ SYNC_QUARANTINE_AFTER: "2" });
    await waitFor(async () => (await w.status()).quarantined === 1 && pending() === 0, {
      what: "quarantined, the rest delivered",
    });
    expect(await w.status()).toMatchObject({ pending: 0, delivered: 6, quarantined: 1 });
    const q = (await (await fetch(`http://127.0.0.1:${w.port}/quarantine`)).json()) as {
      entries: { messageId: string; lastError: string }[];
    };
    expect(q.entries.map((e) => e.messageId)).toEqual([bad.id]);
    expect(q.entries[0]!.lastError).toContain("400");
    expect(rx.requests.filter((r) => r.entries === 1 && r.status === 400).length).toBe(2);
    expect(rx.ids().has(bad.id)).toBe(false);
    w.p.kill("SIGTERM");
    expect(await w.p.exited).toBe(0);
  });

  test("a partial Convex configuration is refused at startup (exit 78, every missing variable named)", async () => {
    const port = await freePort();
    const p = spawnPipbot(
      ["sync"],
      childEnv({ DATA_DIR: dir.path, SYNC_STATUS_PORT: String(port), SYNC_SECRET: SECRET }),
    );
    procs.push(p);
    expect(await p.exited).toBe(78);
    expect(p.output()).toContain("CONVEX_URL");
    expect(p.output()).toContain("CLERK_USER_ID");
    expect(p.output()).not.toContain(SECRET);
  });

  test("a busy status port is a clear startup failure (exit 1), not a hang", async () => {
    const blocker = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("busy") });
    try {
      const p = spawnPipbot(
        ["sync"],
        childEnv({ DATA_DIR: dir.path, SYNC_STATUS_PORT: String(blocker.port) }),
      );
      procs.push(p);
      expect(await p.exited).toBe(1);
      expect(p.output()).toContain("SYNC_STATUS_PORT");
    } finally {
      await blocker.stop(true);
    }
  });

  test("SIGKILL at random moments while another writer writes: exactly the local messages arrive, once each", async () => {
    write(300);
    const writing = keepWriting(write);
    try {
      for (let round = 0; round < 9; round++) {
        rx.faults.delayMs = 0;
        rx.onAccepted = undefined;
        const before = rx.accepted.length;
        const w = await startWorker();
        if (round % 3 === 0) {
          // Kill inside the critical window: the receiver has upserted, the worker has not acked.
          let killed = false;
          rx.onAccepted = () => {
            rx.faults.delayMs = 200; // the answer leaves after the kill
            w.p.kill("SIGKILL");
            rx.onAccepted = undefined;
            killed = true;
          };
          await waitFor(() => killed, { what: `round ${round}: kill between upsert and ack` });
        } else if (round % 3 === 1) {
          await waitFor(() => rx.accepted.length > before, { what: `round ${round}: worker pushing` });
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 40))); // a random instant
          w.p.kill("SIGKILL");
        } else {
          // A random instant soon after startup: before, during or after the first push or ack.
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 15)));
          w.p.kill("SIGKILL");
        }
        expect(await w.p.exited).not.toBe(0);
      }
    } finally {
      await writing.stop();
    }
    rx.faults.delayMs = 0;
    rx.onAccepted = undefined;
    const final = await startWorker();
    await waitFor(() => pending() === 0 && rx.store.size === localIds(writer).size, {
      timeoutMs: 30_000,
      what: "everything delivered after the kills",
    });
    expect(rx.ids()).toEqual(localIds(writer));
    // …with exactly the local content, not just the ids.
    for (const m of writer.db.query("SELECT id, content FROM messages").all() as {
      id: string;
      content: string;
    }[]) {
      expect(rx.store.get(storeKey(USER, m.id))?.content).toEqual(JSON.parse(m.content));
    }
    expect(rx.conflicts).toBe(0);
    expect(rx.accepted.reduce((a, b) => a + b.duplicates, 0)).toBeGreaterThan(0); // replays happened and were absorbed
    expect(isAscending(rx.firstSeenSeqs)).toBe(true);
    for (const b of rx.accepted) expect(isAscending(b.seqs)).toBe(true);
    expect(writer.db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    final.p.kill("SIGTERM");
    expect(await final.p.exited).toBe(0);
  });
});
