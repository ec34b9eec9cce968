/**
 * The supervisor against REAL child processes: start order with readiness, startup failures,
 * graceful stop in reverse order (children and grandchildren gone), grace expiry, second signal.
 */
import { describe, expect, test } from "bun:test";
import { waitFor } from "../helpers/index.ts";
import { crashCmd, exitLines, isAlive, pidsOf, serverCmd, supervisorRuns, waitForEvent } from "./helpers.ts";

const run = supervisorRuns();

/** ai, and a gateway that ignores SIGTERM (only SIGKILL ends it). */
const stubbornGateway =
  (extra = "") =>
  ({ events }: { events: string }) => [
    `ai: ${serverCmd("ai", events)}`,
    `gateway: ${serverCmd("gateway", events, `--ignore-term ${extra}`.trim())}`,
  ];

describe("pipbot start: readiness and order", () => {
  test("each process starts only after the one before is ready (ai → sync → gateway)", async () => {
    // File order is the reverse of the start order, and ai takes a while to listen.
    const { s, p } = await run(({ events }) => [
      `gateway: ${serverCmd("gateway", events)}`,
      `sync: ${serverCmd("sync", events)}`,
      `ai: ${serverCmd("ai", events, "--ready-delay 700")}`,
    ]);
    await waitForEvent(p, "all_ready");
    const seq = s.readEvents().map((e) => `${e[0]} ${e[1]}`);
    expect(seq).toEqual([
      "start ai",
      "listen ai",
      "start sync",
      "listen sync",
      "start gateway",
      "listen gateway",
    ]);
    const ready = p
      .records()
      .filter((r) => r.event === "child_ready")
      .map((r) => r.child);
    expect(ready).toEqual(["ai", "sync", "gateway"]);
    // Exactly one identity line with the fields operators look for.
    const ids = p.records().filter((r) => r.event === "identity");
    expect(ids).toHaveLength(1);
    for (const k of [
      "version",
      "gitSha",
      "buildTime",
      "flyImageRef",
      "flyMachineId",
      "flyRegion",
      "mode",
      "processes",
      "bun",
    ])
      expect(ids[0]).toHaveProperty(k);
    expect(ids[0]?.processes).toEqual(["ai", "sync", "gateway"]);
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  }, 60_000);

  test("a child that never gets ready is a startup failure naming it; nothing after it starts", async () => {
    const { s, p } = await run(
      ({ events }) => [
        `ai: ${serverCmd("ai", events, "--never-listen")}`,
        `sync: ${serverCmd("sync", events)}`,
        `gateway: ${serverCmd("gateway", events)}`,
      ],
      { SUPERVISOR_READY_TIMEOUT_MS: "1500" },
    );
    const code = await p.exited;
    expect(code).not.toBe(0);
    const failure = p.records().find((r) => r.event === "supervisor_failure");
    expect(failure?.child).toBe("ai");
    expect(String(failure?.msg)).toContain("startup failed: ai not ready within 1500 ms");
    // Its last output lines are part of the message.
    expect(String(failure?.msg)).toContain("ai: waiting forever, never listening");
    expect(s.readEvents().map((e) => e[1])).not.toContain("sync");
    for (const pid of pidsOf(s, "start")) expect(isAlive(pid)).toBe(false);
  }, 60_000);

  test("a child that exits before it is ready fails startup with the child's exit code", async () => {
    const { s, p } = await run(({ events, dir }) => [
      `ai: ${serverCmd("ai", events)}`,
      `sync: ${crashCmd(events, dir, "--code 3")}`,
      `gateway: ${serverCmd("gateway", events)}`,
    ]);
    expect(await p.exited).toBe(3);
    const failure = p.records().find((r) => r.event === "supervisor_failure");
    expect(failure?.child).toBe("sync");
    expect(String(failure?.msg)).toContain("sync exited with code 3 before it was ready");
    expect(String(failure?.msg)).toContain("crash: dying on run 1");
    // ai was started and is stopped again; gateway never started.
    expect(s.readEvents().some((e) => e[0] === "term" && e[1] === "ai")).toBe(true);
    expect(s.readEvents().some((e) => e[1] === "gateway")).toBe(false);
  }, 60_000);
});

describe("pipbot start: stopping", () => {
  test("SIGTERM stops children in reverse order; children and grandchildren are gone; exit 0", async () => {
    const budget = 6000;
    const { s, p } = await run(
      ({ events }) => [
        `ai: ${serverCmd("ai", events)}`,
        `sync: ${serverCmd("sync", events)}`,
        `gateway: ${serverCmd("gateway", events, "--grandchild")}`,
      ],
      { SUPERVISOR_SHUTDOWN_BUDGET_MS: String(budget), SUPERVISOR_GRACE_MS: "3000" },
    );
    await waitForEvent(p, "all_ready");
    const grandchild = pidsOf(s, "grandchild")[0]!;
    expect(isAlive(grandchild)).toBe(true);
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(
      s
        .readEvents()
        .filter((e) => e[0] === "term")
        .map((e) => e[1]),
    ).toEqual(["gateway", "sync", "ai"]);
    expect(exitLines(p).map((r) => r.child)).toEqual(["gateway", "sync", "ai"]);
    for (const r of exitLines(p)) expect(r.action).toBe("stopped");
    // The supervisor exits only once every process group is gone: nothing to wait for here.
    expect(p.records().some((r) => r.event === "groups_left")).toBe(false);
    for (const pid of pidsOf(s, "start")) expect(isAlive(pid)).toBe(false);
    expect(isAlive(grandchild)).toBe(false);
    // Within the budget, by what the supervisor did rather than by a wall-clock bound (which a
    // loaded machine can exceed): no grace ran out, nothing was forced.
    expect(p.records().filter((r) => r.event === "grace_expired" || r.event === "shutdown_forced")).toEqual(
      [],
    );
  }, 60_000);

  test("SIGINT works like SIGTERM", async () => {
    const { s, p } = await run(({ events }) => [`ai: ${serverCmd("ai", events)}`]);
    await waitForEvent(p, "all_ready");
    p.kill("SIGINT");
    expect(await p.exited).toBe(0);
    expect(s.readEvents().some((e) => e[0] === "term" && e[1] === "ai")).toBe(true);
  }, 60_000);

  test("a child that ignores SIGTERM is killed after its grace; the others still stop", async () => {
    const { s, p } = await run(stubbornGateway(), {
      SUPERVISOR_GRACE_MS: "800",
      SUPERVISOR_SHUTDOWN_BUDGET_MS: "10000",
    });
    await waitForEvent(p, "all_ready");
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    const gw = exitLines(p, "gateway")[0];
    expect(gw?.signal).toBe("SIGKILL");
    expect(p.records().find((r) => r.event === "grace_expired")?.child).toBe("gateway");
    expect(exitLines(p, "ai")[0]?.code).toBe(0);
    for (const pid of pidsOf(s, "start")) expect(isAlive(pid)).toBe(false);
  }, 60_000);

  test("a second signal forces the kill at once", async () => {
    // The grace is far longer than the test waits: only the second signal can end this quickly.
    const { s, p } = await run(stubbornGateway("--grandchild"), {
      SUPERVISOR_GRACE_MS: "60000",
      SUPERVISOR_SHUTDOWN_BUDGET_MS: "60000",
    });
    await waitForEvent(p, "all_ready");
    p.kill("SIGTERM");
    await waitFor(() => s.readEvents().some((e) => e[0] === "term" && e[1] === "gateway"), {
      what: "gateway got SIGTERM",
    });
    p.kill("SIGTERM");
    const code = await Promise.race([p.exited, Bun.sleep(20_000).then(() => "still running")]);
    expect(code).toBe(0);
    expect(p.records().some((r) => r.event === "shutdown_forced")).toBe(true);
    for (const pid of [...pidsOf(s, "start"), ...pidsOf(s, "grandchild")]) expect(isAlive(pid)).toBe(false);
  }, 60_000);
});
