/**
 * Leak check after every test file (bunfig.toml preloads this; graphile-worker does the same):
 * once a file's tests and afterAll hooks are done, nothing it started may still be alive — no
 * child process (nor a grandchild that outlived its parent) and no server still listening; and at
 * the end of the run no socket at all.
 *
 * Ownership: `Bun.serve`, `Bun.spawn` and `Bun.spawnSync` are wrapped to note the test file that
 * called them (`Bun.main` is the file being run, already during its beforeAll). Spawned processes
 * carry it in their environment (PIPBOT_TEST_FILE), which their own children inherit, so a
 * detached daemon (a tmux server, a supervisor's orphaned child) is still traced to its file.
 *
 * When: Bun has no per-file hook (a preload's afterAll runs once, after the whole run; an afterAll
 * registered from a preload's beforeEach attaches to that one test). So a Bun plugin appends one
 * top-level `afterAll(() => fileDone(file))` to the test file as it is loaded: it runs after the
 * file's own afterAll hooks (Bun runs a scope's afterAll hooks in the order they were registered),
 * and a leak fails THAT file. A file run as a test but not named *.test.ts (nor one of the
 * leak-check fixtures) is not instrumented: it is still checked, when the next file's first test
 * starts (the failure then says so and names the file that leaked) or at the end of the run.
 * The check waits (bounded) for what is still closing, then fails naming the leaking file and what
 * it left, and kills the leftover processes so that the next file is not blamed for them.
 */
import { afterAll, beforeEach } from "bun:test";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { relative } from "node:path";
import { plugin } from "bun";

const RUN = String(process.pid);
process.env.PIPBOT_TEST_RUN = RUN;

/** How long a leak may take to go away on its own (a stopping server, an exiting child). */
const SETTLE_MS = 5_000;
const POLL_MS = 25;

const fileOf = (main: string) => relative(process.cwd(), main);

// --- ownership -----------------------------------------------------------------------------------

/** Ports of the servers each test file started. */
const servers = new Map<string, Set<number>>();

const realServe = Bun.serve;
Bun.serve = ((options: Parameters<typeof Bun.serve>[0]) => {
  const server = realServe.call(Bun, options);
  const file = fileOf(Bun.main);
  const port = server.port;
  if (port) servers.set(file, (servers.get(file) ?? new Set()).add(port));
  return server;
}) as typeof Bun.serve;

type SpawnOptions = { env?: Record<string, string | undefined> } & Record<string, unknown>;
const marked = (opts: SpawnOptions | undefined): SpawnOptions => ({
  ...opts,
  env: { ...(opts?.env ?? process.env), PIPBOT_TEST_RUN: RUN, PIPBOT_TEST_FILE: fileOf(Bun.main) },
});
/** Bun.spawn(cmd, opts) or Bun.spawn({ cmd, …opts }): the same call with the file's marker added. */
function markSpawnArgs(args: unknown[]): unknown[] {
  if (Array.isArray(args[0])) return [args[0], marked(args[1] as SpawnOptions | undefined)];
  return [marked(args[0] as SpawnOptions), ...args.slice(1)];
}
const realSpawn = Bun.spawn;
const realSpawnSync = Bun.spawnSync;
Bun.spawn = ((...args: unknown[]) =>
  (realSpawn as (...a: unknown[]) => unknown).apply(Bun, markSpawnArgs(args))) as typeof Bun.spawn;
Bun.spawnSync = ((...args: unknown[]) =>
  (realSpawnSync as (...a: unknown[]) => unknown).apply(Bun, markSpawnArgs(args))) as typeof Bun.spawnSync;

// --- what is alive ---------------------------------------------------------------------------------

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

interface Proc {
  pid: number;
  ppid: number;
  cmd: string;
  /** The test file that (transitively) spawned it, when it carries this run's marker. */
  file: string | undefined;
}

/** Processes of this run still alive (zombies are already gone): descendants and marked ones. */
function liveProcesses(): Proc[] {
  const all: Proc[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const stat = readText(`/proc/${name}/stat`);
    // "pid (comm) state ppid …": comm may contain spaces and parentheses; split after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (!stat || rest[0] === "Z" || rest[0] === "X") continue;
    const env = readText(`/proc/${name}/environ`).split("\0");
    const ours = env.includes(`PIPBOT_TEST_RUN=${RUN}`);
    all.push({
      pid: Number(name),
      ppid: Number(rest[1]),
      cmd: readText(`/proc/${name}/cmdline`).split("\0").join(" ").trim(),
      file: ours ? env.find((e) => e.startsWith("PIPBOT_TEST_FILE="))?.slice(17) : undefined,
    });
  }
  const byPid = new Map(all.map((p) => [p.pid, p]));
  const descends = (p: Proc): boolean => {
    for (let q: Proc | undefined = p, hops = 0; q && hops < 64; q = byPid.get(q.ppid), hops++)
      if (q.ppid === process.pid) return true;
    return false;
  };
  return all.filter((p) => p.file !== undefined || descends(p));
}

/** Local ports of this process's listening TCP sockets, and descriptions of all its TCP sockets. */
function tcpState(): { listening: Set<number>; sockets: string[] } {
  const mine = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m?.[1]) mine.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const listening = new Set<number>();
  const sockets: string[] = [];
  const port = (addr: string | undefined) => Number.parseInt(addr?.split(":")[1] ?? "0", 16);
  for (const file of ["/proc/self/net/tcp", "/proc/self/net/tcp6"]) {
    for (const line of readText(file).split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !mine.has(f[9] ?? "")) continue;
      if (f[3] === "0A") {
        listening.add(port(f[1]));
        sockets.push(`a server listening on port ${port(f[1])}`);
      } else sockets.push(`a TCP socket ${port(f[1])} → ${port(f[2])}`);
    }
  }
  return { listening, sockets };
}

/** Sockets open before the first file, and those already reported (so they are blamed once). */
const knownSockets = new Set(tcpState().sockets);

/** What `file` left alive (every file's leftovers when `file` is undefined: the end of the run). */
function leaks(file: string | undefined): string[] {
  const procs = liveProcesses().filter((p) => file === undefined || p.file === file);
  const tcp = tcpState();
  const out = procs.map((p) => `process ${p.pid}: ${p.cmd.slice(0, 160)}`);
  if (file === undefined) out.push(...tcp.sockets.filter((s) => !knownSockets.has(s)));
  else
    for (const port of servers.get(file) ?? [])
      if (tcp.listening.has(port)) out.push(`a server listening on port ${port}`);
  return out;
}

/**
 * Fails (after killing its leftover processes) when `file` left anything alive; `reportedIn`: the
 * file whose first test runs the check of a file that was not instrumented.
 */
async function check(file: string | undefined, reportedIn?: string): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  let found = leaks(file);
  while (found.length && Date.now() < deadline) {
    await Bun.sleep(POLL_MS);
    found = leaks(file);
  }
  if (file !== undefined) servers.delete(file);
  if (!found.length) return;
  for (const s of found) knownSockets.add(s);
  for (const p of liveProcesses().filter((p) => file === undefined || p.file === file)) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      /* gone meanwhile */
    }
  }
  const where = reportedIn
    ? ` (reported in ${reportedIn}, the file that ran next: ${file} has no check of its own, its name is not *.test.ts)`
    : "";
  throw new Error(
    `leak check: ${file ?? "the test run"} left ${found.length} thing(s) alive ${SETTLE_MS} ms after ` +
      `its last test${where} (stop every server, close every socket and end every child in afterAll/afterEach):\n  ${found.join("\n  ")}`,
  );
}

// --- when ------------------------------------------------------------------------------------------

/** Files already checked (by their own appended afterAll, the next file, or the end of the run). */
const checked = new Set<string>();

/** Test files get a check of their own; the leak-check fixtures too (their names are not *.test.ts). */
const PER_FILE = /(\.test\.ts|[\\/]test[\\/]fixtures[\\/]leak-check[\\/][^\\/]+\.ts)$/;
const SELF = import.meta.path;

plugin({
  name: "pipbot-leak-check-per-file",
  setup(build) {
    build.onLoad({ filter: PER_FILE }, async (args) => {
      const contents = await Bun.file(args.path).text();
      // Only the file being run: a test file imported by another keeps its source as it is.
      if (args.path !== Bun.main) return { contents, loader: "ts" };
      const file = fileOf(args.path);
      // Appended (line numbers unchanged); import declarations are hoisted wherever they stand.
      return {
        contents:
          `${contents}\n;import { afterAll as __pipbotLeakAfterAll } from "bun:test";` +
          `import { fileDone as __pipbotLeakFileDone } from ${JSON.stringify(SELF)};` +
          `__pipbotLeakAfterAll(() => __pipbotLeakFileDone(${JSON.stringify(file)}), ${3 * SETTLE_MS});\n`,
        loader: "ts",
      };
    });
  },
});

/** The instrumented file's last afterAll: its check, failing that file. */
export async function fileDone(file: string): Promise<void> {
  if (checked.has(file)) return;
  checked.add(file);
  await check(file);
}

let current: string | undefined;

// Files that were not instrumented: checked when the next file's first test starts.
beforeEach(async () => {
  const file = fileOf(Bun.main);
  if (file === current) return;
  const previous = current;
  current = file;
  if (previous === undefined || checked.has(previous)) return;
  checked.add(previous);
  await check(previous, file);
}, 3 * SETTLE_MS);

afterAll(async () => {
  if (current !== undefined && !checked.has(current)) {
    checked.add(current);
    await check(current);
  }
  await check(undefined);
}, 3 * SETTLE_MS);
