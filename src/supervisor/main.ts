/**
 * `pipbot start [--only a,b] [--procfile PATH]` and `pipbot demo`: the supervisor process. The
 * only file of the supervisor that reads the environment, spawns processes and installs signal
 * handlers; the policies live in supervisor.ts / shutdown.ts / child.ts / policy.ts / output.ts /
 * readiness.ts / demo.ts, the argument parsing in args.ts, what is derived from the environment in
 * from-env.ts, the OS probes (process groups, the lock's pid, the clock) in os.ts, the Procfile
 * parser in shared/procfile.ts (`pipbot check` reads the Procfile too).
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { HelpRequested, UsageError } from "../shared/cli-args.ts";
import {
  type Env,
  EX_CONFIG,
  formatProblems,
  loadEnv,
  type SupervisorConfig,
  secretValues,
  supervisorEnv,
  withChildPathsFrom,
} from "../shared/config/index.ts";
import { loadOrCreateToken } from "../shared/gateway-token.ts";
import { identity, ROOT_DIR } from "../shared/identity.ts";
import { INSTANCE_VAR } from "../shared/instance.ts";
import { createLogger, type PipbotLogger } from "../shared/log.ts";
import { commandArgv, type ProcEntry, ProcfileError } from "../shared/procfile.ts";
import { onStopSignals } from "../shared/stop-signals.ts";
import { statusFilePath, writeStatusFile } from "../shared/supervisor-status.ts";
import { parseDemoArgs, parseStartArgs, USAGE } from "./args.ts";
import {
  chatDataDirFor,
  DEMO_USAGE,
  demoBanner,
  demoEnv,
  demoModelProblem,
  readyMessage,
  simProcess,
  simUrl,
} from "./demo.ts";
import { childConfigProblems, childEnv, supervisorSettings } from "./from-env.ts";
import { groupAlive, isSupervisorPid, killGroup, loadProcesses, realClock } from "./os.ts";
import { consoleFormat, scrubLine } from "./output.ts";
import {
  acquireLock,
  bindTargets,
  EX_UNAVAILABLE,
  lockBusyMessage,
  portBusyMessage,
  portCollisions,
} from "./preflight.ts";
import { type ReadinessCheck, readinessFor } from "./readiness.ts";
import { type ChildHandle, Supervisor } from "./supervisor.ts";
import { UP_USAGE, upChoice } from "./up.ts";

export { USAGE };

export interface SuperviseOptions {
  argv: string[];
  env: Env;
  /** The command its messages are signed with (`pipbot demo: …`); default start. */
  command?: "start" | "demo";
  /** Install SIGTERM/SIGINT handlers (the demo and `pipbot start` do). */
  signals?: boolean;
  /** Called once every check has passed, just before the first process starts (the demo's banner). */
  onStarting?: () => void;
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

/** Why `host:port` cannot be bound right now, or null when it is free (the preflight bind). */
function bindError(host: string, port: number): string | null {
  if (port === 0) return null;
  try {
    Bun.serve({ hostname: host, port, fetch: () => new Response(null) }).stop(true);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code ?? (e as Error).message;
  }
}

/** Run the supervisor until it stops; resolves with the exit code. */
export async function supervise(opts: SuperviseOptions): Promise<number> {
  const { procfile, only } = parseStartArgs(opts.argv);
  const command = opts.command ?? "start";
  const loaded = loadEnv(supervisorEnv, opts.env);
  if (!loaded.ok) {
    process.stderr.write(`${formatProblems(command, loaded.problems)}\n`);
    return EX_CONFIG;
  }
  const cfg: SupervisorConfig = loaded.config;
  const procfilePath = resolve(procfile ?? cfg.PROCFILE);
  // Children run in the Procfile's directory: a relative DATA_DIR (the default ./data included) and
  // GATEWAY_CONTROL_UI_DIR are resolved there, once, so the lock and status file below sit in the
  // very directory whose store every child opens (each gets this absolute DATA_DIR), and the
  // preflight checks exactly the directory the gateway will serve.
  const childVars = withChildPathsFrom(opts.env, dirname(procfilePath));
  const dataDir = childVars.DATA_DIR ?? resolve(cfg.DATA_DIR);
  let entries: ProcEntry[];
  try {
    entries = loadProcesses(procfilePath, only);
  } catch (e) {
    if (!(e instanceof ProcfileError)) throw e;
    if (only && /unknown process/.test(e.message)) throw new UsageError(e.message, USAGE);
    process.stderr.write(`pipbot ${command}: ${e.message}\n`);
    return EX_CONFIG;
  }

  // Fail fast with one message when a known process would reject its configuration anyway.
  const invalid = childConfigProblems(entries, childVars);
  if (invalid.length > 0) {
    process.stderr.write(`pipbot ${command}: not starting anything:\n${invalid.join("\n")}\n`);
    return EX_CONFIG;
  }

  // Two processes on one port: a configuration error (exit 78), before anything else.
  const targets = bindTargets(entries, cfg);
  const collisions = portCollisions(targets);
  if (collisions.length > 0) {
    process.stderr.write(
      `pipbot ${command}: not starting anything: ports collide:\n${collisions.join("\n")}\n`,
    );
    return EX_CONFIG;
  }
  // Another runtime on the same DATA_DIR, or a port already taken: exit 69, nothing started.
  let lock: ReturnType<typeof acquireLock>;
  try {
    lock = acquireLock(dataDir, process.pid, isSupervisorPid);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    process.stderr.write(
      `pipbot ${command}: cannot take the lock in DATA_DIR ${dataDir} (${why}). Fix: set DATA_DIR to a writable directory. Nothing was started.\n`,
    );
    return EX_CONFIG;
  }
  if (!lock.ok) {
    process.stderr.write(`${lockBusyMessage(dataDir, lock, command)}\n`);
    return EX_UNAVAILABLE;
  }
  for (const t of targets) {
    const err = bindError(t.host, t.port);
    if (err) {
      lock.release();
      process.stderr.write(`${portBusyMessage(t, err, command)}\n`);
      return EX_UNAVAILABLE;
    }
  }

  opts.onStarting?.();
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
  if (lock.stale)
    logger.warn(
      { event: "stale_lock", holder: lock.stale, dataDir },
      `took over the DATA_DIR lock of supervisor pid ${lock.stale.pid}, which is no longer running`,
    );

  const output = (
    proc: string,
    stream: "stdout" | "stderr",
    line: { text: string; part?: { index: number; last: boolean } },
  ) => {
    const text = format.child(proc, stream, line, logger.redactor);
    write(`${logger.redactor.string(text)}\n`);
  };

  const statusPath = statusFilePath(dataDir);
  // Procfile lines run under /bin/sh like foreman; an image without a shell runs plain lines directly.
  const shell = existsSync("/bin/sh") ? "/bin/sh" : null;
  const cwd = dirname(procfilePath);
  const env = childEnv(childVars);

  const sup = new Supervisor({
    processes: [
      ...(opts.before ?? []),
      ...entries.map((entry) => ({ entry, check: readinessFor(entry.name, cfg) })),
    ],
    settings: supervisorSettings(cfg),
    spawn: ({ command, instanceId }): ChildHandle => {
      // stdin is the parent-death pipe: only this process holds its write end, so the child
      // reads end-of-file when the supervisor dies, however it dies (PIPBOT_PARENT_WATCH=stdin).
      const proc = Bun.spawn(commandArgv(command, shell), {
        cwd,
        env: { ...env, [INSTANCE_VAR]: instanceId },
        stdin: "pipe",
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
    pid: process.pid,
    onChange: (view) => writeStatusFile(statusPath, view),
    ...(opts.onReady ? { onReady: () => opts.onReady?.(sup) } : {}),
  });

  // First signal: graceful stop in reverse order; second: SIGKILL every group (shared semantics).
  const offStop =
    opts.signals === false
      ? () => {}
      : onStopSignals(
          { graceful: (why) => sup.requestStop(why), force: (why) => sup.requestStop(why) },
          { env: opts.env },
        );
  try {
    return await sup.run();
  } finally {
    offStop();
    lock.release();
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
  // A model the demo cannot serve: refused before anything is printed, written or started.
  const badModel = args.model === undefined ? undefined : demoModelProblem(process.env, args.model);
  if (badModel) throw new UsageError(badModel, DEMO_USAGE);
  // The demo runs the repository's Procfile, so by the one rule (withDataDirFrom) a relative
  // DATA_DIR is relative to the repository, wherever the demo is run from; made absolute here.
  const procfile = join(ROOT_DIR, "Procfile");
  const dataDir = resolve(dirname(procfile), process.env.DATA_DIR?.trim() || "./data/demo");
  mkdirSync(dataDir, { recursive: true });
  // The user's token, else the one kept in DATA_DIR/gateway-token (created on the first demo),
  // which is where `pipbot chat` finds it.
  const own = ["CLAWDBOT_GATEWAY_TOKEN", "OPENCLAW_GATEWAY_TOKEN"].find((n) => process.env[n]?.trim());
  const saved = own ? undefined : loadOrCreateToken(dataDir);
  const token = own ? (process.env[own]?.trim() ?? "") : (saved?.token ?? "");
  // `pipbot chat` (`./pipbot` runs in the repository) finds the token of ./data or ./data/demo by
  // itself (the newest): name any other.
  const chatDataDir = saved ? chatDataDirFor(dataDir, dirname(procfile)) : undefined;
  const simPort = args.simPort || freeLoopbackPort();
  const url = simUrl(simPort);
  const env = demoEnv(process.env, { simUrl: url, dataDir, token, model: args.model });
  return supervise({
    argv: ["--procfile", procfile],
    command: "demo",
    env,
    signals: true,
    secrets: [token],
    before: [simProcess(simPort)],
    onStarting: () =>
      process.stderr.write(demoBanner({ simUrl: url, model: env.AI_DEFAULT_MODEL ?? "", dataDir })),
    onReady: () =>
      process.stderr.write(
        readyMessage({
          gatewayPort: env.GATEWAY_PORT ?? "18789",
          tokenSource: saved ? saved.path : `$${own}`,
          chatDataDir,
          controlUi: Boolean(env.GATEWAY_CONTROL_UI_DIR?.trim()),
        }),
      ),
  });
}

/** `pipbot up`: start or demo, chosen from the environment (with .env) — see up.ts. */
export async function upMain(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) throw new HelpRequested(UP_USAGE);
  const choice = upChoice(process.env);
  process.stderr.write(`pipbot up: ${choice.why}\n`);
  try {
    return await (choice.mode === "start" ? main(argv) : demoMain(argv));
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(e.message, `${UP_USAGE}\n\n${e.usage}`);
    throw e;
  }
}
