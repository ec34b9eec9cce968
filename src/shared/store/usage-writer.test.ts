/**
 * Usage rows are written in batches (usage-writer.ts), against real SQLite files: a reader in the
 * same process sees every row; another connection sees them after the flush window, at once when
 * a batch fills, and after close; a failed flush (another connection holds the write lock) keeps
 * its rows, reports the failure and writes them later; a row the database refuses is reported
 * and the others are written.
 */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { tempDir, waitFor } from "../../../test/helpers/index.ts";
import { dbPath, openStore, type Store } from "./index.ts";
import { USAGE_BATCH_ROWS, type UsageWriteProblem } from "./usage-writer.ts";

const usage = {
  inputTokens: 2,
  outputTokens: 3,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
};
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function open(opts: { busyTimeoutMs?: number } = {}) {
  const dir = tempDir("pipbot-usage-");
  const problems: UsageWriteProblem[] = [];
  const store = openStore(dir.path, { ...opts, onUsageProblem: (p) => problems.push(p) });
  // Another connection on the same file: what the gateway's usage panels see.
  const other = new Database(dbPath(dir.path));
  other.exec("PRAGMA busy_timeout = 5000");
  cleanups.push(() => dir.cleanup());
  cleanups.push(() => store.close());
  cleanups.push(() => other.close());
  const seen = () =>
    (other.query("SELECT request_id FROM usage ORDER BY id").all() as { request_id: string }[]).map(
      (r) => r.request_id,
    );
  return { store, other, problems, seen };
}

const record = (s: Store, ids: string[]) => {
  for (const requestId of ids)
    s.recordUsage({ requestId, provider: "openai", model: "m", status: "ok", usage });
};
const names = (n: number, prefix = "r") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe("usage rows are written in batches", () => {
  test("a read in the same process flushes first: every recorded row is counted", () => {
    const { store, seen } = open();
    record(store, names(10));
    expect(seen()).toEqual([]); // queued, not written yet
    expect(store.usageTotals(0)).toEqual([expect.objectContaining({ requests: 10, inputTokens: 20 })]);
    record(store, ["g"]);
    expect(store.usageGroups(0, Date.now() + 1000)[0]?.requests).toBe(11);
    record(store, ["c"]);
    expect(store.usageOfConversation(null)).toHaveLength(12);
    expect(seen()).toHaveLength(12);
  });

  test("another connection sees the rows after the flush window, with no read in the writer", async () => {
    const { store, seen } = open();
    record(store, names(3));
    expect(seen()).toEqual([]);
    expect(await waitFor(() => (seen().length === 3 ? seen() : null), { what: "the 3 rows" })).toEqual(
      names(3),
    );
  });

  test(`${USAGE_BATCH_ROWS} queued rows are written at once, without the timer`, () => {
    const { store, seen } = open();
    record(store, names(USAGE_BATCH_ROWS - 1));
    expect(seen()).toEqual([]);
    record(store, ["last"]);
    expect(seen()).toEqual([...names(USAGE_BATCH_ROWS - 1), "last"]);
  });

  test("close() writes the queued rows; recording after close throws (the caller logs it)", () => {
    const { store, seen } = open();
    record(store, names(5));
    store.close();
    expect(seen()).toEqual(names(5));
    expect(() => record(store, ["late"])).toThrow(/store is closed/);
  });

  test("a failed flush keeps its rows, reports the failure, and writes them once the lock is free", async () => {
    const { store, other, problems, seen } = open({ busyTimeoutMs: 5 });
    other.exec("BEGIN IMMEDIATE"); // another process holding the write lock
    record(store, names(4));
    expect(store.flushUsage()).toBe(false);
    expect(problems).toEqual([
      expect.objectContaining({ kind: "retrying", code: "SQLITE_BUSY", rows: 4, pending: 4, failures: 1 }),
    ]);
    // Rows recorded meanwhile join the queue; a read still answers (with what is written).
    record(store, ["r4"]);
    expect(store.usageTotals(0)).toEqual([]);
    expect(problems.filter((p) => p.kind === "retrying").length).toBeGreaterThanOrEqual(2);
    other.exec("COMMIT");
    // The retry timer writes them: no call from here.
    await waitFor(() => seen().length === 5, { what: "the kept rows written by the retry" });
    expect(seen()).toEqual(names(5));
    expect(problems.at(-1)).toMatchObject({ kind: "recovered", rows: 5, pending: 0 });
    expect(store.flushUsage()).toBe(true);
  });

  test("rows the database refuses are reported (one line, their request ids); the rest of the batch is written", () => {
    const { store, problems, seen } = open();
    const refused = (requestId: string) =>
      store.recordUsage({ requestId, provider: null as unknown as string, model: "m", status: "ok", usage });
    record(store, ["a"]);
    refused("bad1");
    record(store, ["b"]);
    refused("bad2");
    expect(store.flushUsage()).toBe(true);
    expect(seen()).toEqual(["a", "b"]);
    expect(problems).toEqual([
      expect.objectContaining({
        kind: "rejected",
        code: "SQLITE_CONSTRAINT_NOTNULL",
        rows: 2,
        requestIds: ["bad1", "bad2"],
      }),
    ]);
  });

  test("close() with the database still locked reports the rows it could not write as lost", () => {
    const { store, other, problems, seen } = open({ busyTimeoutMs: 5 });
    other.exec("BEGIN IMMEDIATE");
    record(store, names(2));
    store.close();
    other.exec("COMMIT");
    expect(seen()).toEqual([]);
    expect(problems.at(-1)).toMatchObject({ kind: "dropped", rows: 2, requestIds: names(2), pending: 0 });
  });
});
