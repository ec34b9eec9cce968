/**
 * The sync worker as a child process for the tests that kill it: `pipbot sync` on a free status
 * port with fast polling and backoff, started and waited on (/healthz), and a second writer that
 * keeps appending messages while it is killed.
 */
import { childEnv, freePort, type RunningProcess, spawnPipbot, waitFor } from "../helpers/index.ts";

export interface SyncWorker {
  p: RunningProcess;
  port: number;
  /** GET /status, parsed. */
  status(): Promise<Record<string, unknown>>;
}

/**
 * Spawns `pipbot sync` over `dataDir` with `env` on top of the fast timings, adds it to `procs`
 * (the caller's afterEach kills those), and resolves once its /healthz answers.
 */
export async function startSyncWorker(
  procs: RunningProcess[],
  dataDir: string,
  env: Record<string, string>,
): Promise<SyncWorker> {
  const port = await freePort();
  const p = spawnPipbot(
    ["sync"],
    childEnv({
      DATA_DIR: dataDir,
      SYNC_STATUS_PORT: String(port),
      SYNC_POLL_INTERVAL_MS: "10",
      SYNC_BACKOFF_BASE_MS: "20",
      SYNC_BACKOFF_CAP_MS: "200",
      ...env,
    }),
  );
  procs.push(p);
  const status = async () =>
    (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Record<string, unknown>;
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {
    timeoutMs: 15_000,
    what: "sync /healthz",
  });
  return { p, port, status };
}

/** Calls write(1–3) every few milliseconds until the returned stop() (which waits for the loop). */
export function keepWriting(write: (count: number) => void): { stop(): Promise<void> } {
  let writing = true;
  const loop = (async () => {
    while (writing) {
      write(1 + Math.floor(Math.random() * 3));
      await new Promise((r) => setTimeout(r, 5)); // pacing the writer, not synchronisation
    }
  })();
  return {
    async stop() {
      writing = false;
      await loop;
    },
  };
}
