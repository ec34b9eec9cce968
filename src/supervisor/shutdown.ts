/**
 * Shutdown: stop the children in reverse start order within one budget (SIGTERM, then SIGKILL
 * after each one's grace), SIGKILL whatever is left, and wait until every process group is gone.
 * A forced stop (a second signal) aborts `force`: the remaining waits end at once.
 */
import type { Logger } from "pino";
import type { Child, Clock, Instance } from "./child.ts";
import type { GroupSignal } from "./deps.ts";

export interface ShutdownContext {
  /** The managed children, in start order. */
  children: readonly Child[];
  clock: Clock;
  logger: Logger;
  budgetMs: number;
  graceMs: number;
  /** Aborted by a forced stop. */
  force: AbortSignal;
  /** Signal an instance's whole process group as part of stopping. */
  stop: (inst: Instance, signal: GroupSignal) => void;
  /** The supervisor's in-flight work (exit handling, restarts), waited for before the end. */
  pending: ReadonlySet<Promise<unknown>>;
  /** True while a process of the group led by `pid` is still running. */
  groupAlive?: ((pid: number) => boolean) | undefined;
  /** The outcome logged with the last line. */
  outcome: () => { exitCode: number; failure: unknown };
}

export async function shutdown(reason: string, c: ShutdownContext): Promise<void> {
  const { clock, logger } = c;
  const t0 = clock.now();
  const deadline = t0 + c.budgetMs;
  const order = [...c.children].reverse();
  logger.info(
    {
      event: "shutdown_start",
      reason,
      order: order.map((m) => m.entry.name),
      budgetMs: c.budgetMs,
    },
    `stopping (${reason})`,
  );
  for (const m of order) {
    const inst = m.current;
    if (!inst || inst.status) continue;
    const left = deadline - clock.now();
    if (c.force.aborted || left <= 0) break;
    const grace = Math.min(c.graceMs, left);
    c.stop(inst, "SIGTERM");
    const exited = await Promise.race([
      inst.exited.then(() => true),
      clock.sleep(grace, c.force).then(() => false),
    ]);
    if (!exited && !inst.status) {
      logger.warn(
        { event: "grace_expired", child: m.entry.name, pid: inst.pid, graceMs: grace },
        `${m.entry.name} did not stop within ${grace} ms: SIGKILL`,
      );
      c.stop(inst, "SIGKILL");
    }
    // Let its exit line be written before the next child is stopped (logs stay in stop order).
    // `handled` is bounded (drain waits at most 250 ms for the pipes); the cap is for a loaded machine.
    await Promise.race([inst.handled, clock.sleep(2000, c.force)]);
  }
  // Whatever is left (children past the budget, grandchildren of stopped children): SIGKILL.
  for (const m of c.children) if (m.current) c.stop(m.current, "SIGKILL");
  const live = c.children.flatMap((m) => (m.current ? [m.current.handled] : []));
  await Promise.race([Promise.all([...live, ...c.pending]), clock.sleep(2000)]);
  const left = await groupsLeft(c);
  if (left.length > 0)
    logger.warn({ event: "groups_left", groups: left }, `process groups still running: ${left.join(", ")}`);
  const { exitCode, failure } = c.outcome();
  logger.info({ event: "shutdown_complete", durationMs: clock.now() - t0, exitCode, failure }, "stopped");
}

/** Exit only once every group is gone (a SIGKILLed grandchild may take a moment to die). */
async function groupsLeft(c: ShutdownContext): Promise<number[]> {
  const { clock } = c;
  const leaders = c.children.flatMap((m) => (m.current ? [m.current.pid] : []));
  const alive = c.groupAlive;
  let left = alive ? leaders.filter(alive) : [];
  for (const end = clock.now() + 1000; alive && left.length > 0 && clock.now() < end; ) {
    await clock.sleep(10);
    left = left.filter(alive);
  }
  return left;
}
