/**
 * Test primitives shared by every area: free ports, waiting on a condition with a deadline (never
 * a sleep), temp data dirs, and running `pipbot` as a real child process with captured output.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..", "..");
export const CLI = join(ROOT, "src", "cli.ts");

/** A TCP port that was free a moment ago (for child processes that must be told their port). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** Poll `cond` until it returns a truthy value or the deadline passes (then throw with `what`). */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  {
    timeoutMs = 10_000,
    intervalMs = 10,
    what = "condition",
  }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ""}`,
      );
    }
    await Bun.sleep(intervalMs);
  }
}

/**
 * Read a whole streamed body. The first time `when(text so far)` holds, await `then()` before
 * reading on: e.g. release the simulator's held `cut_after` once this client has seen the parts.
 * A body that fails part-way (a cut passed through) ends the text; `failed` says so.
 */
export async function readThrough(
  res: Response,
  when: (text: string) => boolean,
  then: () => unknown,
): Promise<{ text: string; failed: boolean }> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let text = "";
  let fired = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, failed: false };
      text += dec.decode(value, { stream: true });
      if (!fired && when(text)) {
        fired = true;
        await then();
      }
    }
  } catch {
    return { text, failed: true };
  }
}

/** How many SSE events named `name` are in `text` so far. */
export const countSse = (text: string, name: string) => text.split(`event: ${name}\n`).length - 1;

/** A fresh temp directory; `cleanup()` removes it. */
export function tempDir(prefix = "pipbot-test-"): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Base environment for child processes: PATH/HOME only, JSON logs, no inherited secrets. */
export function childEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    PIPBOT_SUPERVISED: "1",
    LOG_LEVEL: "info",
  };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export interface RunningProcess {
  proc: ReturnType<typeof Bun.spawn>;
  /** All stdout+stderr text so far. */
  output(): string;
  /** Parsed JSON log lines so far (non-JSON lines skipped). */
  records(): Record<string, unknown>[];
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number>;
  kill(signal?: NodeJS.Signals | number): void;
}

/** Spawn `bun src/cli.ts <args>` with captured output. */
export function spawnPipbot(
  args: string[],
  env: Record<string, string>,
  opts: { cwd?: string; detached?: boolean } = {},
): RunningProcess {
  return spawnCaptured(["bun", CLI, ...args], env, opts);
}

export function spawnCaptured(
  cmd: string[],
  env: Record<string, string>,
  opts: { cwd?: string; detached?: boolean } = {},
): RunningProcess {
  let text = "";
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd ?? ROOT,
    env,
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    ...(opts.detached ? { detached: true } : {}),
  });
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) text += dec.decode(chunk, { stream: true });
  };
  const pumps = Promise.all([
    pump(proc.stdout as ReadableStream<Uint8Array>),
    pump(proc.stderr as ReadableStream<Uint8Array>),
  ]);
  const exited = proc.exited.then(async (code) => {
    await pumps.catch(() => {});
    return code;
  });
  return {
    proc,
    output: () => text,
    records: () =>
      text
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    waitForOutput: (re, timeoutMs = 15_000) =>
      waitFor(() => text.match(re), { timeoutMs, what: `output matching ${re}` }),
    exited,
    kill: (signal = "SIGTERM") => {
      try {
        proc.kill(signal);
      } catch {
        /* already gone */
      }
    },
  };
}
