/**
 * A clock that moves only when the test says so: `now()` plus timers that fire, in due order, as
 * `advance(ms)` passes their time. For code that takes an injected clock, so a test asserts
 * deadlines and orderings without sleeping or measuring durations.
 */
export interface ManualClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): number;
  clearTimeout(handle: unknown): void;
  /** Move time forward by `ms`, firing every timer that falls due on the way (in order). */
  advance(ms: number): void;
  /** Timers still pending. */
  pending(): number;
}

export function manualClock(start = 0): ManualClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, { due: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { due: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let first: [number, { due: number; fn: () => void }] | undefined;
        for (const e of timers) if (e[1].due <= end && (!first || e[1].due < first[1].due)) first = e;
        if (!first) break;
        timers.delete(first[0]);
        now = first[1].due;
        first[1].fn();
      }
      now = end;
    },
    pending: () => timers.size,
  };
}
