/**
 * The simulator's cut gate: a streamed `fault=cut_after:<n>` holds its connection reset here until
 * a test opens the gate (`sim.releaseCuts()`, once its own client has seen the n parts), the
 * request is aborted, or the hold deadline passes (then it cuts anyway and logs that it did).
 * Why a hold at all: a reset makes the client's kernel drop bytes the client has not read yet.
 */

export interface CutGate {
  /** Waits until the gate opens, `signal` aborts, or `holdMs` passes (logged on stderr). */
  hold(requestId: string, signal: AbortSignal): Promise<void>;
  /** Opens the gate: held cuts go now, later ones do not wait. */
  open(): void;
  /** Closes the gate again (sim.reset()). */
  close(): void;
}

export function createCutGate(holdMs: number): CutGate {
  /** Streams held at their cut point; once the gate is open (releaseCuts) nothing is held. */
  const held = new Set<() => void>();
  let isOpen = false;
  return {
    async hold(id, signal) {
      if (isOpen || signal.aborted) return;
      const { promise, resolve } = Promise.withResolvers<"released" | "deadline" | "aborted">();
      const release = () => resolve("released");
      const timer = setTimeout(() => resolve("deadline"), holdMs);
      const onAbort = () => resolve("aborted");
      signal.addEventListener("abort", onAbort, { once: true });
      held.add(release);
      const how = await promise;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      held.delete(release);
      if (how === "deadline")
        process.stderr.write(
          `${JSON.stringify({ level: "info", proc: "upstream-sim", msg: "cut_after: nobody called releaseCuts(); cutting at the hold deadline", requestId: id, cutHoldMs: holdMs })}\n`,
        );
    },
    open() {
      isOpen = true;
      for (const release of held) release();
    },
    close() {
      isOpen = false;
    },
  };
}
