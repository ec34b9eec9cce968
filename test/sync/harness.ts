/**
 * Shared set-up of the sync tests: a real SQLite store in a temp dir (a writer connection, like the
 * gateway, and the worker's own connection), the fake sync-v1 receiver on port 0, and an in-process
 * runner with fast, injected backoff.
 */

import { abortableSleep } from "../../src/shared/backoff.ts";
import { createLogger, memoryDestination } from "../../src/shared/log.ts";
import { openStore, type Store } from "../../src/shared/store/index.ts";
import { type RunnerOptions, type Sleep, SyncRunner } from "../../src/sync/runner.ts";
import { type SyncReceiver, startSyncReceiver } from "../fakes/sync-receiver.ts";
import { tempDir } from "../helpers/index.ts";

export const SECRET = "test-sync-secret-0123456789abcdef";
export const USER = "user_test123";

export interface Harness {
  dir: { path: string; cleanup(): void };
  writer: Store;
  workerStore: Store;
  receiver: SyncReceiver;
  sessionId: string;
  logs: ReturnType<typeof memoryDestination>;
  /** Delays the runner asked to sleep (it actually sleeps at most a few ms). */
  delays: number[];
  runner: SyncRunner | null;
  startRunner(over?: Partial<RunnerOptions>): SyncRunner;
  write(n: number, text?: (i: number) => string): string[];
  cleanup(): Promise<void>;
}

/** Sleeps at most `maxMs` whatever was asked, and records what was asked. */
export function recordingSleep(delays: number[], maxMs = 5): Sleep {
  return (ms, signal) => {
    delays.push(ms);
    return abortableSleep(Math.min(ms, maxMs), signal);
  };
}

export async function makeHarness(): Promise<Harness> {
  const dir = tempDir("pipbot-sync-");
  const writer = openStore(dir.path);
  const workerStore = openStore(dir.path);
  const receiver = await startSyncReceiver({ secret: SECRET, userId: USER });
  const sessionId = writer.getOrCreateSession("main").id;
  const logs = memoryDestination();
  const delays: number[] = [];
  let counter = 0;
  const h: Harness = {
    dir,
    writer,
    workerStore,
    receiver,
    sessionId,
    logs,
    delays,
    runner: null,
    startRunner(over = {}) {
      const runner = new SyncRunner({
        store: workerStore,
        target: {
          siteUrl: receiver.url,
          userId: USER,
          machineId: "m-test",
          secret: SECRET,
          timeoutMs: 5_000,
        },
        logger: createLogger({ proc: "sync", level: "debug", destination: logs, secrets: [SECRET] }),
        sleep: recordingSleep(delays),
        backoff: { baseMs: 10, capMs: 100 },
        authRetryMs: 20,
        pollIntervalMs: 5,
        quarantineAfter: 3,
        ...over,
      });
      h.runner = runner;
      void runner.start();
      return runner;
    },
    write(n, text = (i) => `message ${i}`) {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const c = counter++;
        ids.push(
          writer.appendMessage({
            sessionId,
            role: c % 2 === 0 ? "user" : "assistant",
            content: [{ type: "text", text: text(c) }],
            ...(c % 2 === 1
              ? {
                  model: "anthropic/sim",
                  stopReason: "end_turn",
                  usage: {
                    inputTokens: 3,
                    outputTokens: 5,
                    cacheReadTokens: 0,
                    cacheWriteTokens: 0,
                    reasoningTokens: 0,
                  },
                }
              : {}),
          }).id,
        );
      }
      return ids;
    },
    async cleanup() {
      await h.runner?.stop(100);
      await receiver.stop();
      writer.close();
      workerStore.close();
      dir.cleanup();
    },
  };
  return h;
}

/** Every local message id (delivered or not). */
export function localIds(store: Store): Set<string> {
  return new Set((store.db.query("SELECT id FROM messages").all() as { id: string }[]).map((r) => r.id));
}

export function isAscending(xs: number[]): boolean {
  return xs.every((x, i) => i === 0 || xs[i - 1]! < x);
}
