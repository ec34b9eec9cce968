/**
 * The supervisor: starts the Procfile's processes in order (each only once the one before is
 * ready), restarts crashed children with backoff, stops everything on a crash loop, and on a
 * stop request stops children in reverse order within a budget, then SIGKILLs every process group.
 *
 * Everything that touches the OS is injected (`spawn`, `killGroup`, `clock`, `fetch`, `output`),
 * so this file is one state machine; `main.ts` provides the real adapters.
 */
import type { Logger } from "pino";
import type { ProcEntry } from "../shared/procfile.ts";
import { type Line, LineSplitter, type StreamName } from "./output.ts";
import {
  Backoff,
  type BackoffSettings,
  type CrashLoopSettings,
  CrashLoopWindow,
  describeExit,
  type ExitStatus,
  failureExitCode,
} from "./policy.ts";
import { type FetchLike, probe, type ReadinessCheck } from "./readiness.ts";

export interface ChildHandle {
  pid: number;
  stdout: ReadableStream<Uint8Array> | null;
  stderr: ReadableStream<Uint8Array> | null;
  exited: Promise<ExitStatus>;
}

export type SpawnFn = (spec: { name: string; command: string }) => ChildHandle;
/** Send `signal` to the whole process group led by `pid` (errors such as ESRCH are ignored). */
export type KillGroupFn = (pid: number, signal: "SIGTERM" | "SIGKILL") => void;

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export type OutputFn = (proc: string, stream: StreamName, line: Line) => void;

export interface SupervisorSettings {
  readyTimeoutMs: number;
  shutdownBudgetMs: number;
  graceMs: number;
  backoff: BackoffSettings;
  crashLoop: CrashLoopSettings;
  /** Readiness poll interval (default 10 ms: a refused loopback connect costs next to nothing). */
  pollMs?: number;
}

export interface SupervisorDeps {
  processes: { entry: ProcEntry; check: ReadinessCheck }[];
  settings: SupervisorSettings;
  spawn: SpawnFn;
  killGroup: KillGroupFn;
  clock: Clock;
  fetch: FetchLike;
  output: OutputFn;
  logger: Logger;
  /** Called once every process is ready (the demo prints its banner here). */
  onReady?: () => void;
  /** Redacts a child's raw line before it is kept for quoting in a failure message. */
  scrub?: (text: string) => string;
}

interface Instance {
  pid: number;
  startedAt: number;
  status: ExitStatus | null;
  exited: Promise<ExitStatus>;
  /** Resolves when the exit has been handled (output flushed, exit line logged). */
  handled: Promise<void>;
  pumps: Promise<unknown>;
  splitters: { splitter: LineSplitter; stream: StreamName }[];
}

interface Managed {
  entry: ProcEntry;
  check: ReadinessCheck;
  backoff: Backoff;
  window: CrashLoopWindow;
  everReady: boolean;
  restarts: number;
  current: Instance | null;
  recent: string[];
}

export type SupervisorState = "idle" | "starting" | "running" | "stopping" | "stopped";

const RECENT_LINES = 15;

export class Supervisor {
  private readonly managed: Managed[];
  private state: SupervisorState = "idle";
  private readonly stopCtl = new AbortController();
  private readonly forceCtl = new AbortController();
  private stopRequested = false;
  private failure: { child: string; code: number; reason: string } | null = null;
  private shutdownDone: Promise<void> | null = null;
  private resolveStopped!: () => void;
  private readonly stopped = new Promise<void>((r) => {
    this.resolveStopped = r;
  });
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly d: SupervisorDeps) {
    this.managed = d.processes.map(({ entry, check }) => ({
      entry,
      check,
      backoff: new Backoff(d.settings.backoff),
      window: new CrashLoopWindow(d.settings.crashLoop),
      everReady: false,
      restarts: 0,
      current: null,
      recent: [],
    }));
  }

  get status(): SupervisorState {
    return this.state;
  }

  /** Pids of the running children by name (for tests, the demo and the benchmark). */
  pids(): Record<string, number | null> {
    return Object.fromEntries(
      this.managed.map((m) => [m.entry.name, m.current?.status ? null : (m.current?.pid ?? null)]),
    );
  }

  /** Start everything, supervise until stopped; resolves with the exit code. */
  async run(): Promise<number> {
    const t0 = this.d.clock.now();
    this.state = "starting";
    const log = this.d.logger;
    for (const m of this.managed) {
      if (this.state !== "starting") break;
      const inst = this.spawn(m);
      if (!inst) break;
      const res = await this.awaitReady(m, inst, this.d.settings.readyTimeoutMs);
      if (this.state !== "starting") break;
      if (res !== "ready") {
        this.fail(m, res, inst.status);
        break;
      }
      log.info(
        {
          event: "child_ready",
          child: m.entry.name,
          pid: inst.pid,
          readyMs: this.d.clock.now() - inst.startedAt,
        },
        `${m.entry.name} is ready`,
      );
    }
    if (this.state === "starting") {
      this.state = "running";
      log.info(
        {
          event: "all_ready",
          processes: this.managed.map((m) => m.entry.name),
          startupMs: this.d.clock.now() - t0,
        },
        "all processes ready",
      );
      this.d.onReady?.();
    }
    await this.stopped;
    return this.exitCode();
  }

  /**
   * Ask for a graceful stop (a signal). A second request while stopping forces an immediate
   * SIGKILL of every process group.
   */
  requestStop(reason: string): void {
    if (this.state === "stopping" || this.state === "stopped") {
      if (this.state === "stopping") this.force(reason);
      return;
    }
    this.stopRequested = true;
    this.beginShutdown(reason);
  }

  private exitCode(): number {
    if (this.failure) return this.failure.code;
    return this.stopRequested ? 0 : 1;
  }

  private spawn(m: Managed): Instance | null {
    let handle: ChildHandle;
    try {
      handle = this.d.spawn({ name: m.entry.name, command: m.entry.command });
    } catch (e) {
      this.d.logger.error(
        { event: "spawn_failed", child: m.entry.name, err: e },
        `could not start ${m.entry.name}`,
      );
      this.fail(m, `could not be started: ${(e as Error).message}`, null);
      return null;
    }
    const splitters: Instance["splitters"] = [];
    const pumps = Promise.all([
      this.pump(m, handle.stdout, "stdout", splitters),
      this.pump(m, handle.stderr, "stderr", splitters),
    ]);
    const inst: Instance = {
      pid: handle.pid,
      startedAt: this.d.clock.now(),
      status: null,
      exited: handle.exited,
      handled: Promise.resolve(),
      pumps,
      splitters,
    };
    m.current = inst;
    inst.handled = handle.exited.then((status) => {
      inst.status = status;
      return this.onExit(m, inst, status);
    });
    this.track(inst.handled);
    this.d.logger.info(
      {
        event: "child_start",
        child: m.entry.name,
        pid: handle.pid,
        command: m.entry.command,
        restarts: m.restarts,
      },
      `started ${m.entry.name}`,
    );
    return inst;
  }

  private async pump(
    m: Managed,
    stream: ReadableStream<Uint8Array> | null,
    name: StreamName,
    splitters: Instance["splitters"],
  ): Promise<void> {
    if (!stream) return;
    const splitter = new LineSplitter();
    splitters.push({ splitter, stream: name });
    try {
      for await (const chunk of stream) for (const line of splitter.push(chunk)) this.emit(m, name, line);
    } catch {
      // the pipe broke: whatever was held is flushed below
    }
    for (const line of splitter.flush()) this.emit(m, name, line);
  }

  private emit(m: Managed, stream: StreamName, line: Line): void {
    const text = this.d.scrub ? this.d.scrub(line.text) : line.text;
    m.recent.push(text.length > 500 ? `${text.slice(0, 500)}…` : text);
    if (m.recent.length > RECENT_LINES) m.recent.shift();
    this.d.output(m.entry.name, stream, line);
  }

  /** "ready", or why the child is not ready. */
  private async awaitReady(m: Managed, inst: Instance, timeoutMs: number): Promise<"ready" | string> {
    const { clock } = this.d;
    const poll = this.d.settings.pollMs ?? 10;
    const deadline = clock.now() + timeoutMs;
    for (;;) {
      if (inst.status) return `${describeExit(inst.status)} before it was ready`;
      if (this.state === "stopping" || this.state === "stopped") return "stopped before it was ready";
      let ok: boolean;
      if (m.check.kind === "http")
        ok = await probe(this.d.fetch, m.check.url, Math.min(1000, Math.max(50, deadline - clock.now())));
      else ok = clock.now() - inst.startedAt >= m.check.ms;
      if (inst.status) return `${describeExit(inst.status)} before it was ready`;
      if (ok) {
        m.everReady = true;
        return "ready";
      }
      const left = deadline - clock.now();
      if (left <= 0) {
        const how =
          m.check.kind === "http" ? `${m.check.url} did not answer 2xx` : `did not stay up ${m.check.ms} ms`;
        return `not ready within ${timeoutMs} ms (${how})`;
      }
      const wait =
        m.check.kind === "uptime"
          ? Math.min(poll, Math.max(1, inst.startedAt + m.check.ms - clock.now()))
          : poll;
      await Promise.race([clock.sleep(Math.min(wait, left), this.stopCtl.signal), inst.exited]);
    }
  }

  private async onExit(m: Managed, inst: Instance, status: ExitStatus): Promise<void> {
    const { clock, logger } = this.d;
    // Grandchildren may keep the pipes open: flush what we have after a short wait.
    await Promise.race([inst.pumps, clock.sleep(250)]);
    for (const { splitter, stream } of inst.splitters)
      for (const line of splitter.flush()) this.emit(m, stream, line);
    const now = clock.now();
    const base = {
      event: "child_exit",
      child: m.entry.name,
      pid: inst.pid,
      code: status.code,
      signal: status.signal,
      uptimeMs: now - inst.startedAt,
      restarts: m.restarts,
    };
    if (this.state === "stopping" || this.state === "stopped") {
      logger.info(
        { ...base, action: "stopped", nextDelayMs: null },
        `${m.entry.name} ${describeExit(status)}`,
      );
      return;
    }
    // Leftover grandchildren of a crashed child would hold its port: clear the group.
    this.d.killGroup(inst.pid, "SIGKILL");
    if (!m.everReady) {
      logger.error(
        { ...base, action: "startup_failure", nextDelayMs: null },
        `${m.entry.name} ${describeExit(status)} before it was ready`,
      );
      return;
    }
    if (m.window.record(now)) {
      const { maxRestarts, windowMs } = this.d.settings.crashLoop;
      logger.error(
        { ...base, action: "crash_loop", nextDelayMs: null, maxRestarts, windowMs },
        `${m.entry.name} crash loop: more than ${maxRestarts} restarts within ${windowMs} ms`,
      );
      this.fail(
        m,
        `crash loop: ${describeExit(status)}, more than ${maxRestarts} restarts within ${windowMs} ms`,
        status,
      );
      return;
    }
    const delay = m.backoff.next(base.uptimeMs);
    logger.warn(
      { ...base, action: "restart", nextDelayMs: delay },
      `${m.entry.name} ${describeExit(status)}; restarting in ${delay} ms`,
    );
    this.track(this.restartAfter(m, delay));
  }

  private async restartAfter(m: Managed, delay: number): Promise<void> {
    await this.d.clock.sleep(delay, this.stopCtl.signal);
    if (this.state !== "starting" && this.state !== "running") return;
    m.restarts++;
    const inst = this.spawn(m);
    if (!inst) return;
    const res = await this.awaitReady(m, inst, this.d.settings.readyTimeoutMs);
    if (res === "ready")
      this.d.logger.info(
        { event: "child_ready", child: m.entry.name, pid: inst.pid, restarts: m.restarts },
        `${m.entry.name} is ready again`,
      );
    else if (!inst.status && this.state === "running")
      this.d.logger.warn(
        { event: "child_not_ready", child: m.entry.name, pid: inst.pid, reason: res },
        `${m.entry.name} restarted but ${res}`,
      );
  }

  private fail(m: Managed, reason: string, status: ExitStatus | null): void {
    if (this.state === "stopping" || this.state === "stopped") return;
    this.failure = { child: m.entry.name, code: failureExitCode(status), reason };
    const phase = this.state === "starting" ? "startup failed" : "giving up";
    this.d.logger.error(
      {
        event: "supervisor_failure",
        child: m.entry.name,
        reason,
        exitCode: this.failure.code,
        lastLines: [...m.recent],
      },
      `${phase}: ${m.entry.name} ${reason}${m.recent.length ? `; last output:\n  ${m.recent.join("\n  ")}` : ""}`,
    );
    this.beginShutdown(`${m.entry.name} failed`);
  }

  private beginShutdown(reason: string): void {
    this.state = "stopping";
    this.stopCtl.abort();
    this.shutdownDone = this.shutdown(reason).finally(() => {
      this.state = "stopped";
      this.resolveStopped();
    });
  }

  private force(reason: string): void {
    if (this.forceCtl.signal.aborted) return;
    this.d.logger.warn(
      { event: "shutdown_forced", reason },
      "second signal: killing every process group now",
    );
    this.forceCtl.abort();
    for (const m of this.managed)
      if (m.current && !m.current.status) this.d.killGroup(m.current.pid, "SIGKILL");
  }

  private async shutdown(reason: string): Promise<void> {
    const { clock, logger, settings } = this.d;
    const t0 = clock.now();
    const deadline = t0 + settings.shutdownBudgetMs;
    const order = [...this.managed].reverse();
    logger.info(
      {
        event: "shutdown_start",
        reason,
        order: order.map((m) => m.entry.name),
        budgetMs: settings.shutdownBudgetMs,
      },
      `stopping (${reason})`,
    );
    for (const m of order) {
      const inst = m.current;
      if (!inst || inst.status) continue;
      const left = deadline - clock.now();
      if (this.forceCtl.signal.aborted || left <= 0) break;
      const grace = Math.min(settings.graceMs, left);
      this.d.killGroup(inst.pid, "SIGTERM");
      const exited = await Promise.race([
        inst.exited.then(() => true),
        clock.sleep(grace, this.forceCtl.signal).then(() => false),
      ]);
      if (!exited && !inst.status) {
        logger.warn(
          { event: "grace_expired", child: m.entry.name, pid: inst.pid, graceMs: grace },
          `${m.entry.name} did not stop within ${grace} ms: SIGKILL`,
        );
        this.d.killGroup(inst.pid, "SIGKILL");
      }
      // Let its exit line be written before the next child is stopped (logs stay in stop order).
      await Promise.race([inst.handled, clock.sleep(500, this.forceCtl.signal)]);
    }
    // Whatever is left (children past the budget, grandchildren of stopped children): SIGKILL.
    for (const m of this.managed) if (m.current) this.d.killGroup(m.current.pid, "SIGKILL");
    const live = this.managed.flatMap((m) => (m.current ? [m.current.handled] : []));
    await Promise.race([Promise.all([...live, ...this.pending]), clock.sleep(2000)]);
    logger.info(
      {
        event: "shutdown_complete",
        durationMs: clock.now() - t0,
        exitCode: this.exitCode(),
        failure: this.failure,
      },
      "stopped",
    );
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((e) => this.d.logger.error({ err: e }, "supervisor internal error"));
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }

  /** Resolves when the supervisor has fully stopped (for callers that did not await run()). */
  whenStopped(): Promise<void> {
    return this.stopped.then(() => this.shutdownDone ?? undefined);
  }
}
