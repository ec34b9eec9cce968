/**
 * One Procfile process under supervision: its current instance (pid, exit status, output pumps),
 * its line-buffered output, its readiness wait, and the restart state the policies keep for it
 * (backoff, crash-loop window, last output lines). The supervisor decides what to do on an exit;
 * this file only runs and watches one child. Everything that touches the OS is injected.
 */
import type { ProcEntry } from "../shared/procfile.ts";
import type { ChildExit, ChildState } from "../shared/supervisor-status.ts";
import { type Line, LineSplitter, type StreamName } from "./output.ts";
import {
  Backoff,
  type BackoffSettings,
  type CrashLoopSettings,
  CrashLoopWindow,
  describeExit,
  type ExitStatus,
} from "./policy.ts";
import { type FetchLike, probe, type ReadinessCheck } from "./readiness.ts";

export interface ChildHandle {
  pid: number;
  stdout: ReadableStream<Uint8Array> | null;
  stderr: ReadableStream<Uint8Array> | null;
  exited: Promise<ExitStatus>;
}

/** `instanceId`: fresh per spawn; the child gets it as PIPBOT_INSTANCE_ID (see shared/instance.ts). */
export type SpawnFn = (spec: { name: string; command: string; instanceId: string }) => ChildHandle;

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export type OutputFn = (proc: string, stream: StreamName, line: Line) => void;

export interface Instance {
  pid: number;
  /** The id this instance echoes on /healthz. */
  id: string;
  startedAt: number;
  status: ExitStatus | null;
  exited: Promise<ExitStatus>;
  /** Resolves when the exit has been handled (output flushed, exit line logged). */
  handled: Promise<void>;
  pumps: Promise<unknown>;
  splitters: { splitter: LineSplitter; stream: StreamName }[];
  /** The supervisor has sent it SIGTERM or SIGKILL to stop it. */
  stopSent: boolean;
}

export interface ChildIo {
  spawn: SpawnFn;
  clock: Clock;
  fetch: FetchLike;
  output: OutputFn;
  /** Redacts a raw line before it is kept for quoting in a failure message. */
  scrub?: (text: string) => string;
}

const RECENT_LINES = 15;
/** A quoted line is cut to this many characters. */
const RECENT_LINE_MAX_CHARS = 500;
/** After an exit, how long the output pipes may take to close (grandchildren may hold them). */
const DRAIN_MAX_MS = 250;
/** One readiness probe's timeout: the time left until the deadline, within these bounds. */
const PROBE_TIMEOUT_MS = { min: 50, max: 1000 };

export class Child {
  readonly backoff: Backoff;
  readonly window: CrashLoopWindow;
  everReady = false;
  restarts = 0;
  current: Instance | null = null;
  /** What the status file shows for it (the supervisor sets it on each change). */
  state: ChildState = "waiting";
  lastExit: ChildExit | null = null;
  /** The last output lines (redacted), quoted when this child fails. */
  readonly recent: string[] = [];

  constructor(
    readonly entry: ProcEntry,
    readonly check: ReadinessCheck,
    policy: { backoff: BackoffSettings; crashLoop: CrashLoopSettings },
    private readonly io: ChildIo,
  ) {
    this.backoff = new Backoff(policy.backoff);
    this.window = new CrashLoopWindow(policy.crashLoop);
  }

  /** Spawn a new instance (throws what `spawn` throws); `onExit` runs once it has exited. */
  start(onExit: (inst: Instance, status: ExitStatus) => Promise<void>): Instance {
    const id = crypto.randomUUID();
    const handle = this.io.spawn({ name: this.entry.name, command: this.entry.command, instanceId: id });
    const splitters: Instance["splitters"] = [];
    const inst: Instance = {
      pid: handle.pid,
      id,
      startedAt: this.io.clock.now(),
      status: null,
      exited: handle.exited,
      handled: Promise.resolve(),
      pumps: Promise.all([
        this.pump(handle.stdout, "stdout", splitters),
        this.pump(handle.stderr, "stderr", splitters),
      ]),
      splitters,
      stopSent: false,
    };
    this.current = inst;
    inst.handled = handle.exited.then((status) => {
      inst.status = status;
      return onExit(inst, status);
    });
    return inst;
  }

  /** After an exit: wait briefly for the pipes (grandchildren may hold them), emit held lines. */
  async drain(inst: Instance): Promise<void> {
    await Promise.race([inst.pumps, this.io.clock.sleep(DRAIN_MAX_MS)]);
    for (const { splitter, stream } of inst.splitters)
      for (const line of splitter.flush()) this.emit(stream, line);
  }

  private async pump(
    stream: ReadableStream<Uint8Array> | null,
    name: StreamName,
    splitters: Instance["splitters"],
  ): Promise<void> {
    if (!stream) return;
    const splitter = new LineSplitter();
    splitters.push({ splitter, stream: name });
    try {
      for await (const chunk of stream) for (const line of splitter.push(chunk)) this.emit(name, line);
    } catch {
      // the pipe broke: whatever was held is flushed below
    }
    for (const line of splitter.flush()) this.emit(name, line);
  }

  private emit(stream: StreamName, line: Line): void {
    const text = this.io.scrub ? this.io.scrub(line.text) : line.text;
    this.recent.push(text.length > RECENT_LINE_MAX_CHARS ? `${text.slice(0, RECENT_LINE_MAX_CHARS)}…` : text);
    if (this.recent.length > RECENT_LINES) this.recent.shift();
    this.io.output(this.entry.name, stream, line);
  }

  /**
   * "ready", or why the instance is not ready: it exited, `stopping()` became true, or the
   * deadline passed. Polls every `pollMs`; `stop` aborts the waits between polls.
   */
  async awaitReady(
    inst: Instance,
    o: { timeoutMs: number; pollMs: number; stopping: () => boolean; stop: AbortSignal },
  ): Promise<"ready" | string> {
    const { clock } = this.io;
    const check = this.check;
    const deadline = clock.now() + o.timeoutMs;
    let stranger = false;
    for (;;) {
      if (inst.status) return `${describeExit(inst.status)} before it was ready`;
      if (o.stopping()) return "stopped before it was ready";
      let ok: boolean;
      if (check.kind === "http") {
        const timeout = Math.min(
          PROBE_TIMEOUT_MS.max,
          Math.max(PROBE_TIMEOUT_MS.min, deadline - clock.now()),
        );
        const res = await probe(this.io.fetch, check.url, timeout, check.instance ? inst.id : undefined);
        ok = res === "ready";
        stranger ||= res === "stranger";
      } else ok = clock.now() - inst.startedAt >= check.ms;
      if (inst.status) return `${describeExit(inst.status)} before it was ready`;
      if (ok) {
        this.everReady = true;
        return "ready";
      }
      const left = deadline - clock.now();
      if (left <= 0) {
        const how =
          check.kind !== "http"
            ? `did not stay up ${check.ms} ms`
            : stranger
              ? `${check.url} was answered by another process, not this child (no matching x-pipbot-instance): is something else on the port?`
              : `${check.url} did not answer 2xx`;
        return `not ready within ${o.timeoutMs} ms (${how})`;
      }
      const wait =
        check.kind === "uptime"
          ? Math.min(o.pollMs, Math.max(1, inst.startedAt + check.ms - clock.now()))
          : o.pollMs;
      await Promise.race([clock.sleep(Math.min(wait, left), o.stop), inst.exited]);
    }
  }
}
