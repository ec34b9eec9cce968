/**
 * How every pipbot process stops: ONE set of semantics, installed by each main.ts with
 * `onStopSignals({ graceful, force })` (see docs/SUPERVISOR.md "Signals"):
 *   - the first SIGTERM or SIGINT calls `graceful` (finish in-flight work within the process's
 *     own drain bound, then exit 0);
 *   - a second SIGTERM or SIGINT calls `force` (abandon in-flight work now, exit non-zero);
 *   - under the supervisor (`PIPBOT_PARENT_WATCH=stdin`), the child's stdin is a pipe whose other
 *     end only the supervisor holds: its end-of-file means the supervisor died (even by SIGKILL or
 *     the OOM killer), so the child stops gracefully, and forcefully `parentDeathForceMs` later.
 *     No child outlives its supervisor.
 */

export type StopReason = NodeJS.Signals | "parent_exit";

export interface StopHandlers {
  graceful: (reason: StopReason) => void;
  force: (reason: StopReason) => void;
}

export interface StopOptions {
  /** The environment (main.ts passes process.env): PIPBOT_PARENT_WATCH=stdin turns the watch on. */
  env?: Record<string, string | undefined>;
  /** The stream whose end means the parent died (default process.stdin). */
  parentPipe?: NodeJS.ReadableStream;
  /** After a parent death, force the stop this long after the graceful start (default 10 s). */
  parentDeathForceMs?: number;
}

/** The variable the supervisor sets on each child to turn the parent-death watch on. */
export const PARENT_WATCH_VAR = "PIPBOT_PARENT_WATCH";
export const DEFAULT_PARENT_DEATH_FORCE_MS = 10_000;

/** Install the handlers; returns a function that removes them (call it once stopped). */
export function onStopSignals(h: StopHandlers, o: StopOptions = {}): () => void {
  let requests = 0;
  let forceTimer: ReturnType<typeof setTimeout> | undefined;
  const request = (reason: StopReason) => {
    requests++;
    if (requests === 1) h.graceful(reason);
    else if (requests === 2) h.force(reason);
  };
  const onSignal = (sig: NodeJS.Signals) => request(sig);
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  const env = o.env ?? {};
  const pipe: NodeJS.ReadableStream | undefined =
    env[PARENT_WATCH_VAR] === "stdin" ? (o.parentPipe ?? process.stdin) : undefined;
  const onParentGone = () => {
    if (forceTimer) return;
    if (requests === 0) request("parent_exit");
    forceTimer = setTimeout(() => {
      if (requests < 2) {
        requests = 1;
        request("parent_exit");
      }
    }, o.parentDeathForceMs ?? DEFAULT_PARENT_DEATH_FORCE_MS);
    forceTimer.unref?.();
  };
  const drop = () => {};
  if (pipe) {
    pipe.on("data", drop);
    pipe.on("end", onParentGone);
    pipe.on("error", onParentGone);
    pipe.on("close", onParentGone);
    pipe.resume();
  }
  return () => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    if (forceTimer) clearTimeout(forceTimer);
    if (pipe) {
      pipe.off("data", drop);
      pipe.off("end", onParentGone);
      pipe.off("error", onParentGone);
      pipe.off("close", onParentGone);
      pipe.pause();
    }
  };
}
