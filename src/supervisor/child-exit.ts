/**
 * What a child's exit leads to, once its output is drained: while stopping, `stopped` (or the
 * `startup_failure` that caused the stop); otherwise its process group is cleared, then a child
 * that was never ready is a `startup_failure`, too many restarts in the window a `crash_loop`
 * (the supervisor gives up), anything else a `restart` after the backoff. Each outcome is
 * recorded as the child's last exit and logged as one `child_exit` line.
 */
import type { Child, Instance } from "./child.ts";
import type { SupervisorDeps } from "./deps.ts";
import { describeExit, type ExitStatus } from "./policy.ts";

type ChildExitState = "restarting" | "stopped" | "failed";

/** The supervisor's side of an exit. */
export interface ExitContext {
  deps: SupervisorDeps;
  /** The supervisor is stopping or stopped. */
  stopping(): boolean;
  /** The child whose failure stopped the supervisor, if one did. */
  failedChild(): string | undefined;
  /** The supervisor's view changed (status file). */
  changed(): void;
  /** Give up: the supervisor fails with this reason. */
  fail(reason: string): void;
  /** Start the child again after `delay` ms (tracked by the supervisor). */
  restartAfter(delay: number): void;
}

export async function onChildExit(
  ctx: ExitContext,
  m: Child,
  inst: Instance,
  status: ExitStatus,
): Promise<void> {
  const { clock, logger } = ctx.deps;
  await m.drain(inst);
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
  const record = (action: string, state: ChildExitState) => {
    m.lastExit = {
      code: status.code,
      signal: status.signal,
      at: now,
      uptimeMs: base.uptimeMs,
      action,
      reason: describeExit(status),
    };
    m.state = state;
    ctx.changed();
  };
  const startupFailure = () => {
    record("startup_failure", "failed");
    logger.error(
      { ...base, action: "startup_failure", nextDelayMs: null },
      `${m.entry.name} ${describeExit(status)} before it was ready`,
    );
  };
  if (ctx.stopping()) {
    // Its own exit before it was ready is what failed startup (fail() may have run first).
    if (!inst.stopSent && !m.everReady && ctx.failedChild() === m.entry.name) {
      startupFailure();
      return;
    }
    record("stopped", "stopped");
    logger.info({ ...base, action: "stopped", nextDelayMs: null }, `${m.entry.name} ${describeExit(status)}`);
    return;
  }
  // Leftover grandchildren of a crashed child would hold its port: clear the group.
  ctx.deps.killGroup(inst.pid, "SIGKILL");
  if (!m.everReady) {
    startupFailure();
    return;
  }
  if (m.window.record(now)) {
    const { maxRestarts, windowMs } = ctx.deps.settings.crashLoop;
    record("crash_loop", "failed");
    logger.error(
      { ...base, action: "crash_loop", nextDelayMs: null, maxRestarts, windowMs },
      `${m.entry.name} crash loop: more than ${maxRestarts} restarts within ${windowMs} ms`,
    );
    ctx.fail(`crash loop: ${describeExit(status)}, more than ${maxRestarts} restarts within ${windowMs} ms`);
    return;
  }
  const delay = m.backoff.next(base.uptimeMs);
  record("restart", "restarting");
  logger.warn(
    { ...base, action: "restart", nextDelayMs: delay },
    `${m.entry.name} ${describeExit(status)}; restarting in ${delay} ms`,
  );
  ctx.restartAfter(delay);
}
