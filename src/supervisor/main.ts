/**
 * `pipbot start [--only a,b] [--procfile PATH]` and `pipbot demo`: the supervisor process. The
 * only file of the supervisor that reads the environment, spawns processes and installs signal
 * handlers; the policies live in supervisor.ts / child.ts / policy.ts / output.ts / readiness.ts / demo.ts,
 * the Procfile parser in shared/procfile.ts (`pipbot check` reads the Procfile too).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parseCommandArgs, UsageError } from "../shared/cli-args.ts";
import {
  type Env,
  type EnvDefinition,
  type EnvVars,
  EX_CONFIG,
  formatProblems,
  loadEnv,
  processEnvs,
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
import { DEMO_USAGE, demoBanner, demoEnv, readyMessage, simProcess, simUrl } from "./demo.ts";
import { prettyLine, scrubLine, tagLine } from "./output.ts";
import { type ReadinessCheck, readinessFor } from "./readiness.ts";
import { type ChildHandle, type Clock, Supervisor } from "./supervisor.ts";

export const USAGE = `usage: pipbot start [--only NAMES] [--procfile PATH]

Runs every process of the Procfile (ai, sync, gateway) under supervision: start in order with
readiness, restart with backoff, crash-loop detection, graceful stop in reverse order.

options:
  --only NAMES      comma-separated subset of the Procfile's processes, e.g. --only gateway,ai
  --procfile PATH   the Procfile to run (default: $PROCFILE or ./Procfile)
  -h, --help        show this help`;

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

/** Known Procfile names whose configuration is checked before anything starts. */
const CHILD_ENVS: Record<string, EnvDefinition<EnvVars> | undefined> = {
  ai: processEnvs.ai as unknown as EnvDefinition<EnvVars>,
  sync: processEnvs.sync as unknown as EnvDefinition<EnvVars>,
  gateway: processEnvs.gateway as unknown as EnvDefinition<EnvVars>,
};

const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((res) => {
      if (signal?.aborted) return res();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener("abort", done);
        res();
      }
      signal?.addEventListener("abort", done, { once: true });
    }),
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
  const { values } = parseCommandArgs(
    opts.argv,
    { only: { type: "string" }, procfile: { type: "string" } },
    USAGE,
  );
  const loaded = loadEnv(supervisorEnv, opts.env);
  if (!loaded.ok) {
    process.stderr.write(`${formatProblems("start", loaded.problems)}\n`);
    return EX_CONFIG;
  }
  const cfg: SupervisorConfig = loaded.config;
  const procfilePath = resolve(values.procfile ?? cfg.PROCFILE);
  const only = values.only
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
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
  const invalid = entries.flatMap((e) => {
    const def = CHILD_ENVS[e.name];
    if (!def) return [];
    const res = loadEnv(def, opts.env);
    return res.ok ? [] : [formatProblems(e.name, res.problems)];
  });
  if (invalid.length > 0) {
    process.stderr.write(`pipbot start: not starting anything:\n${invalid.join("\n")}\n`);
    return EX_CONFIG;
  }

  const names = [...(opts.before ?? []).map((b) => b.entry.name), ...entries.map((e) => e.name)];
  // Human output on a terminal (unless this supervisor is itself supervised): every line, the
  // supervisor's own included, as `name | level msg`; otherwise JSON lines.
  const tty = opts.tty ?? (process.stdout.isTTY === true && !opts.env.PIPBOT_SUPERVISED);
  const write = opts.write ?? ((line: string) => void process.stdout.write(line));
  const width = Math.max("supervisor".length, ...names.map((n) => n.length));
  const own = (text: string) =>
    tty ? prettyLine("supervisor", "stdout", { text }, names.length, width) : text;
  const logger: PipbotLogger = createLogger({
    proc: "supervisor",
    level: cfg.LOG_LEVEL,
    secrets: [...secretValues(opts.env), ...(opts.secrets ?? [])],
    destination: {
      write: (chunk) => {
        for (const line of chunk.split("\n")) if (line) write(`${own(line)}\n`);
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
    const text = tty
      ? prettyLine(proc, stream, line, names.indexOf(proc), width, logger.redactor)
      : tagLine(proc, stream, line, new Date(), logger.redactor);
    write(`${logger.redactor.string(text)}\n`);
  };

  const cwd = dirname(procfilePath);
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) childEnv[k] = v;
  childEnv.PIPBOT_SUPERVISED = "1";

  const sup = new Supervisor({
    processes: [
      ...(opts.before ?? []),
      ...entries.map((entry) => ({ entry, check: readinessFor(entry.name, cfg) })),
    ],
    settings: {
      readyTimeoutMs: cfg.SUPERVISOR_READY_TIMEOUT_MS,
      shutdownBudgetMs: cfg.SUPERVISOR_SHUTDOWN_BUDGET_MS,
      graceMs: cfg.SUPERVISOR_GRACE_MS,
      backoff: {
        initialMs: cfg.SUPERVISOR_BACKOFF_INITIAL_MS,
        maxMs: cfg.SUPERVISOR_BACKOFF_MAX_MS,
        stableMs: cfg.SUPERVISOR_STABLE_MS,
      },
      crashLoop: {
        maxRestarts: cfg.SUPERVISOR_CRASH_LOOP_RESTARTS,
        windowMs: cfg.SUPERVISOR_CRASH_LOOP_WINDOW_MS,
      },
    },
    spawn: ({ command }): ChildHandle => {
      const proc = Bun.spawn(commandArgv(command), {
        cwd,
        env: childEnv,
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
  const { values } = parseCommandArgs(
    argv,
    { model: { type: "string" }, "sim-port": { type: "string" } },
    DEMO_USAGE,
  );
  const given = values["sim-port"] === undefined ? 0 : Number(values["sim-port"]);
  if (!Number.isInteger(given) || given < 0 || given > 65535)
    throw new UsageError(`--sim-port must be a port number, got ${values["sim-port"]}`, DEMO_USAGE);
  const dataDir = resolve(process.env.DATA_DIR?.trim() || "./data/demo");
  mkdirSync(dataDir, { recursive: true });
  // The user's token, else the one kept in DATA_DIR/gateway-token (created on the first demo),
  // which is where `pipbot chat` finds it.
  const own = ["CLAWDBOT_GATEWAY_TOKEN", "OPENCLAW_GATEWAY_TOKEN"].find((n) => process.env[n]?.trim());
  const saved = own ? undefined : loadOrCreateToken(dataDir);
  const token = own ? (process.env[own]?.trim() ?? "") : (saved?.token ?? "");
  // `pipbot chat` finds the token of ./data or ./data/demo by itself (the newest): name any other.
  const rel = relative(process.cwd(), dataDir);
  const chatDataDir =
    !saved || dataDir === resolve("./data") || dataDir === resolve("./data/demo")
      ? undefined
      : rel && !rel.startsWith("..")
        ? `./${rel}`
        : dataDir;
  const simPort = given || freeLoopbackPort();
  const url = simUrl(simPort);
  const env = demoEnv(process.env, { simUrl: url, dataDir, token, model: values.model });
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
