/**
 * The supervisor: starts the Procfile's processes in order (each only once the one before is
 * ready), restarts crashed children with backoff, stops everything on a crash loop, and on a
 * stop request stops children in reverse order within a budget, then SIGKILLs every process group.
 *
 * Everything that touches the OS is injected (`spawn`, `killGroup`, `clock`, `fetch`, `output`),
 * so this file is one state machine; one child's own mechanics (spawn, output, readiness wait)
 * live in child.ts, what an exit leads to in child-exit.ts, the reverse-order stop in shutdown.ts, and `main.ts` provides the real adapters
 * (with os.ts).
 */
import type { SupervisorView } from "../shared/supervisor-status.ts";
import { Child, type Instance } from "./child.ts";
import { onChildExit } from "./child-exit.ts";
import type { GroupSignal, SupervisorDeps } from "./deps.ts";
import { type ExitStatus, failureExitCode } from "./policy.ts";
import { shutdown } from "./shutdown.ts";

export type { ChildHandle, Clock, OutputFn, SpawnFn } from "./child.ts";
export type { KillGroupFn, SupervisorDeps, SupervisorSettings } from "./deps.ts";

export type SupervisorState = "idle" | "starting" | "running" | "stopping" | "stopped";

export class Supervisor {
  private readonly managed: Child[];
  private state: SupervisorState = "idle";
  private readonly stopCtl = new AbortController();
  private readonly forceCtl = new AbortController();
  private stopRequested = false;
  private failure: { child: string; code: number; reason: string } | null = null;
  private resolveStopped!: () => void;
  private readonly stopped = new Promise<void>((r) => {
    this.resolveStopped = r;
  });
  private readonly pending = new Set<Promise<unknown>>();
  private readonly startedAt: number;

  constructor(private readonly d: SupervisorDeps) {
    this.startedAt = d.clock.now();
    this.managed = d.processes.map(
      ({ entry, check }) =>
        new Child(entry, check, d.settings, {
          spawn: d.spawn,
          clock: d.clock,
          fetch: d.fetch,
          output: d.output,
          ...(d.scrub ? { scrub: d.scrub } : {}),
        }),
    );
  }

  get status(): SupervisorState {
    return this.state;
  }

  /** The supervisor's view: each child's pid, state, uptime start, restarts and last exit. */
  view(): SupervisorView {
    return {
      pid: this.d.pid ?? 0,
      startedAt: this.startedAt,
      updatedAt: this.d.clock.now(),
      state: this.state,
      children: this.managed.map((m) => ({
        name: m.entry.name,
        pid: m.current && !m.current.status ? m.current.pid : null,
        state: m.state,
        startedAt: m.current && !m.current.status ? m.current.startedAt : null,
        restarts: m.restarts,
        lastExit: m.lastExit,
      })),
    };
  }

  private changed(): void {
    if (!this.d.onChange) return;
    try {
      this.d.onChange(this.view());
    } catch (e) {
      this.d.logger.warn({ event: "status_write_failed", err: e }, "could not write the status file");
    }
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
      const res = await this.awaitReady(m, inst);
      if (this.state !== "starting") break;
      if (res !== "ready") {
        this.fail(m, res, inst.status);
        break;
      }
      m.state = "ready";
      this.changed();
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
      this.changed();
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

  private spawn(m: Child): Instance | null {
    let inst: Instance;
    try {
      inst = m.start((i, status) => this.onExit(m, i, status));
    } catch (e) {
      this.d.logger.error(
        { event: "spawn_failed", child: m.entry.name, err: e },
        `could not start ${m.entry.name}`,
      );
      this.fail(m, `could not be started: ${(e as Error).message}`, null);
      return null;
    }
    this.track(inst.handled);
    m.state = "starting";
    this.changed();
    this.d.logger.info(
      {
        event: "child_start",
        child: m.entry.name,
        pid: inst.pid,
        command: m.entry.command,
        restarts: m.restarts,
      },
      `started ${m.entry.name}`,
    );
    return inst;
  }

  private awaitReady(m: Child, inst: Instance): Promise<"ready" | string> {
    return m.awaitReady(inst, {
      timeoutMs: this.d.settings.readyTimeoutMs,
      pollMs: this.d.settings.pollMs ?? 10,
      stopping: () => this.state === "stopping" || this.state === "stopped",
      stop: this.stopCtl.signal,
    });
  }

  private async onExit(m: Child, inst: Instance, status: ExitStatus): Promise<void> {
    await onChildExit(
      {
        deps: this.d,
        stopping: () => this.state === "stopping" || this.state === "stopped",
        failedChild: () => this.failure?.child,
        changed: () => this.changed(),
        fail: (reason) => this.fail(m, reason, status),
        restartAfter: (delay) => this.track(this.restartAfter(m, delay)),
      },
      m,
      inst,
      status,
    );
  }

  private async restartAfter(m: Child, delay: number): Promise<void> {
    await this.d.clock.sleep(delay, this.stopCtl.signal);
    if (this.state !== "starting" && this.state !== "running") return;
    m.restarts++;
    const inst = this.spawn(m);
    if (!inst) return;
    const res = await this.awaitReady(m, inst);
    if (res === "ready") {
      m.state = "ready";
      this.changed();
    }
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

  private fail(m: Child, reason: string, status: ExitStatus | null): void {
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
    for (const m of this.managed) if (m.state !== "failed" && m.state !== "stopped") m.state = "stopping";
    this.changed();
    this.stopCtl.abort();
    const { clock, logger, settings, groupAlive } = this.d;
    void shutdown(reason, {
      children: this.managed,
      clock,
      logger,
      budgetMs: settings.shutdownBudgetMs,
      graceMs: settings.graceMs,
      force: this.forceCtl.signal,
      stop: (inst, signal) => this.stop(inst, signal),
      pending: this.pending,
      groupAlive,
      outcome: () => ({ exitCode: this.exitCode(), failure: this.failure }),
    }).finally(() => {
      this.state = "stopped";
      this.changed();
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
    for (const m of this.managed) if (m.current && !m.current.status) this.stop(m.current, "SIGKILL");
  }

  /** Signal an instance's whole process group as part of stopping. */
  private stop(inst: Instance, signal: GroupSignal): void {
    if (!inst.status) inst.stopSent = true;
    this.d.killGroup(inst.pid, signal);
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((e) => this.d.logger.error({ err: e }, "supervisor internal error"));
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }
}
