/**
 * `pipbot start [--only a,b] [--procfile PATH]` and `pipbot demo`: the supervisor process. The
 * only file of the supervisor that reads the environment, spawns processes and installs signal
 * handlers; the policies live in supervisor.ts / shutdown.ts / child.ts / policy.ts / output.ts /
 * readiness.ts / demo.ts, the argument parsing in args.ts, what is derived from the environment in
 * from-env.ts, the Procfile parser in shared/procfile.ts (`pipbot check` reads the Procfile too).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { abortableSleep } from "../shared/backoff.ts";
import { UsageError } from "../shared/cli-args.ts";
import {
  type Env,
  EX_CONFIG,
  formatProblems,
  loadEnv,
  type SupervisorConfig,
  secretValues,
  supervisorEnv,
} from "../shared/config/index.ts";
import { loadOrCreateToken } from "../shared/gateway-token.ts";
import { identity, ROOT_DIR } from "../shared/identity.ts";
import { createLogger, type PipbotLogger } from "../shared/log.ts";
import {
  commandArgv,
  type ProcEntry,
  ProcfileError,
  parseProcfile,
  selectProcesses,
  startOrder,
} from "../shared/procfile.ts";
import { parseDemoArgs, parseStartArgs, USAGE } from "./args.ts";
import { chatDataDirFor, demoBanner, demoEnv, readyMessage, simProcess, simUrl } from "./demo.ts";
import { childConfigProblems, childEnv, supervisorSettings } from "./from-env.ts";
import { consoleFormat, scrubLine } from "./output.ts";
import { type ReadinessCheck, readinessFor } from "./readiness.ts";
import { type ChildHandle, type Clock, Supervisor } from "./supervisor.ts";

export { USAGE };

export interface SuperviseOptions {
  argv: string[];
  env: Env;
  /** Install SIGTERM/SIGINT handlers (the demo and `pipbot start` do). */
  signals?: boolean;
  /** Called once every process is ready. */
  onReady?: (sup: Supervisor) => void;
  /** Output override (tests); default stdout, human prefixes on a TTY. */
  write?: (line: string) => void;
  tty?: boolean;
  /** Extra secret values to redact from child output (e.g. a generated token). */
  secrets?: string[];
  /** Processes to run before the Procfile's (the demo's simulator), with their readiness checks. */
  before?: { entry: ProcEntry; check: ReadinessCheck }[];
}

const realClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    await abortableSleep(ms, signal);
  },
};

function killGroup(pid: number, signal: "SIGTERM" | "SIGKILL"): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}

/** True while a non-zombie process of group `pgid` exists (Linux: /proc; elsewhere kill -0). */
function groupAlive(pgid: number): boolean {
  if (!existsSync("/proc/self/stat")) {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

function loadProcesses(path: string, only: string[] | undefined): ProcEntry[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ProcfileError(
      `cannot read Procfile ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return startOrder(selectProcesses(parseProcfile(text, path), only));
}

/** Run the supervisor until it stops; resolves with the exit code. */
export async function supervise(opts: SuperviseOptions): Promise<number> {
  const { procfile, only } = parseStartArgs(opts.argv);
  const loaded = loadEnv(supervisorEnv, opts.env);
  if (!loaded.ok) {
    process.stderr.write(`${formatProblems("start", loaded.problems)}\n`);
    return EX_CONFIG;
  }
  const cfg: SupervisorConfig = loaded.config;
  const procfilePath = resolve(procfile ?? cfg.PROCFILE);
  let entries: ProcEntry[];
  try {
    entries = loadProcesses(procfilePath, only);
  } catch (e) {
    if (!(e instanceof ProcfileError)) throw e;
    if (only && /unknown process/.test(e.message)) throw new UsageError(e.message, USAGE);
    process.stderr.write(`pipbot start: ${e.message}\n`);
    return EX_CONFIG;
  }

  // Fail fast with one message when a known process would reject its configuration anyway.
  const invalid = childConfigProblems(entries, opts.env);
  if (invalid.length > 0) {
    process.stderr.write(`pipbot start: not starting anything:\n${invalid.join("\n")}\n`);
    return EX_CONFIG;
  }

  const names = [...(opts.before ?? []).map((b) => b.entry.name), ...entries.map((e) => e.name)];
  // Human output on a terminal (unless this supervisor is itself supervised): every line, the
  // supervisor's own included, as `name | level msg`; otherwise JSON lines.
  const tty = opts.tty ?? (process.stdout.isTTY === true && !opts.env.PIPBOT_SUPERVISED);
  const write = opts.write ?? ((line: string) => void process.stdout.write(line));
  const format = consoleFormat(tty, names);
  const logger: PipbotLogger = createLogger({
    proc: "supervisor",
    level: cfg.LOG_LEVEL,
    secrets: [...secretValues(opts.env), ...(opts.secrets ?? [])],
    destination: {
      write: (chunk) => {
        for (const line of chunk.split("\n")) if (line) write(`${format.own(line)}\n`);
      },
    },
  });
  logger.info(
    { event: "identity", ...identity(names, opts.env), procfile: procfilePath },
    "pipbot supervisor starting",
  );

  const output = (
    proc: string,
    stream: "stdout" | "stderr",
    line: { text: string; part?: { index: number; last: boolean } },
  ) => {
    const text = format.child(proc, stream, line, logger.redactor);
    write(`${logger.redactor.string(text)}\n`);
  };

  const cwd = dirname(procfilePath);
  const env = childEnv(opts.env);

  const sup = new Supervisor({
    processes: [
      ...(opts.before ?? []),
      ...entries.map((entry) => ({ entry, check: readinessFor(entry.name, cfg) })),
    ],
    settings: supervisorSettings(cfg),
    spawn: ({ command }): ChildHandle => {
      const proc = Bun.spawn(commandArgv(command), {
        cwd,
        env,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
        detached: true,
      });
      return {
        pid: proc.pid,
        stdout: proc.stdout,
        stderr: proc.stderr,
        exited: proc.exited.then(() => ({
          code: proc.exitCode,
          signal: typeof proc.signalCode === "number" ? `SIG${proc.signalCode}` : proc.signalCode,
        })),
      };
    },
    killGroup,
    groupAlive,
    clock: realClock,
    fetch: (url, init) => fetch(url, { ...init, redirect: "manual" }),
    output,
    scrub: (text) => scrubLine(text, logger.redactor),
    logger,
    ...(opts.onReady ? { onReady: () => opts.onReady?.(sup) } : {}),
  });

  const onSignal = (sig: NodeJS.Signals) => sup.requestStop(sig);
  if (opts.signals !== false) {
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  }
  try {
    return await sup.run();
  } finally {
    if (opts.signals !== false) {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
    logger.flush();
  }
}

export async function main(argv: string[]): Promise<number> {
  return supervise({ argv, env: process.env, signals: true });
}

/** A loopback port that was free a moment ago (the simulator child is told to listen on it). */
function freeLoopbackPort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(null) });
  const port = probe.port ?? 0;
  probe.stop(true);
  return port;
}

/** `pipbot demo`: the supervisor in demo mode (see demo.ts). */
export async function demoMain(argv: string[]): Promise<number> {
  const args = parseDemoArgs(argv);
  const dataDir = resolve(process.env.DATA_DIR?.trim() || "./data/demo");
  mkdirSync(dataDir, { recursive: true });
  // The user's token, else the one kept in DATA_DIR/gateway-token (created on the first demo),
  // which is where `pipbot chat` finds it.
  const own = ["CLAWDBOT_GATEWAY_TOKEN", "OPENCLAW_GATEWAY_TOKEN"].find((n) => process.env[n]?.trim());
  const saved = own ? undefined : loadOrCreateToken(dataDir);
  const token = own ? (process.env[own]?.trim() ?? "") : (saved?.token ?? "");
  // `pipbot chat` finds the token of ./data or ./data/demo by itself (the newest): name any other.
  const chatDataDir = saved ? chatDataDirFor(dataDir, process.cwd()) : undefined;
  const simPort = args.simPort || freeLoopbackPort();
  const url = simUrl(simPort);
  const env = demoEnv(process.env, { simUrl: url, dataDir, token, model: args.model });
  process.stderr.write(demoBanner({ simUrl: url, model: env.AI_DEFAULT_MODEL ?? "", dataDir }));
  return supervise({
    argv: ["--procfile", join(ROOT_DIR, "Procfile")],
    env,
    signals: true,
    secrets: [token],
    before: [simProcess(simPort)],
    onReady: () =>
      process.stderr.write(
        readyMessage({
          gatewayPort: env.GATEWAY_PORT ?? "18789",
          tokenSource: saved ? saved.path : `$${own}`,
          chatDataDir,
        }),
      ),
  });
}
