/** Phase timer on a manual clock. */
import { describe, expect, test } from "bun:test";
import { manualClock } from "../../test/helpers/manual-clock.ts";
import { PhaseTimer } from "./phase-timer.ts";

describe("phase timer (on a manual clock: no sleeps, no measured durations)", () => {
  test("re-arming keeps pushing the deadline; expiry names the phase armed last", () => {
    const clock = manualClock();
    const fired: number[] = [];
    const timer = new PhaseTimer(() => fired.push(clock.now()), clock);
    timer.arm("first_token", 150);
    // a "token" every 20 ms for 200 ms: the 150 ms idle deadline never passes.
    for (let i = 0; i < 10; i++) {
      clock.advance(20);
      timer.arm("idle", 150);
    }
    expect(fired).toEqual([]);
    expect(timer.expired).toBeUndefined();
    clock.advance(149);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([350]); // 150 ms after the last token at 200
    expect(timer.expired).toEqual({ phase: "idle", ms: 150 });
    expect(clock.pending()).toBe(0);
  });

  test("re-arming costs one timer per idle period, not one per token", () => {
    const clock = manualClock();
    let scheduled = 0;
    const counting = {
      ...clock,
      setTimeout: (fn: () => void, ms: number) => {
        scheduled++;
        return clock.setTimeout(fn, ms);
      },
    };
    const fired: number[] = [];
    const timer = new PhaseTimer(() => fired.push(clock.now()), counting);
    timer.arm("idle", 100);
    for (let i = 0; i < 50; i++) {
      clock.advance(1);
      timer.arm("idle", 100);
    }
    expect(scheduled).toBe(1);
    clock.advance(100); // the first timer fires early, re-arms once for the remainder, then expires
    expect(scheduled).toBe(2);
    expect(fired).toEqual([150]);
  });

  test("a nearer deadline than the pending timer is re-scheduled earlier", () => {
    const clock = manualClock();
    const fired: number[] = [];
    const timer = new PhaseTimer(() => fired.push(clock.now()), clock);
    timer.arm("first_token", 10_000);
    timer.arm("idle", 30);
    clock.advance(30);
    expect(fired).toEqual([30]);
    expect(timer.expired?.phase).toBe("idle");
  });

  test("the total deadline bounds every phase: it expires as `total` when it comes first, not before", () => {
    const clock = manualClock();
    const fired: number[] = [];
    const timer = new PhaseTimer(() => fired.push(clock.now()), clock, { at: 100, ms: 100 });
    timer.arm("first_token", 60);
    clock.advance(50);
    timer.arm("idle", 60); // idle would end at 110, after the total's 100
    clock.advance(49);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([100]);
    expect(timer.expired).toEqual({ phase: "total", ms: 100 });

    const early = new PhaseTimer(() => undefined, clock, { at: clock.now() + 1000, ms: 1000 });
    early.arm("connect", 20); // a phase ending before the total still names itself
    clock.advance(20);
    expect(early.expired).toEqual({ phase: "connect", ms: 20 });
    expect(clock.pending()).toBe(0);
  });

  test("clear stops it", () => {
    const clock = manualClock();
    const fired: number[] = [];
    const timer = new PhaseTimer(() => fired.push(clock.now()), clock);
    timer.arm("connect", 20);
    timer.clear();
    clock.advance(1000);
    expect(fired).toEqual([]);
    expect(clock.pending()).toBe(0);
  });
});
