/**
 * Opening a database written by an earlier release: each schema version as it was released
 * (its migrations only, its user_version, its rows) is brought to the current one on open,
 * keeping every row.
 */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { tempDir } from "../../../test/helpers/index.ts";
import { dbPath, openStore, type Store } from "./index.ts";
import { MIGRATIONS } from "./migrations.ts";

const dirs: { cleanup(): void }[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) d.cleanup();
});

/** A database in a fresh DATA_DIR at schema `version` as released (migrations up to it), open for rows. */
function databaseAt(version: number): { d: { path: string }; old: Database } {
  const d = tempDir();
  dirs.push(d);
  const old = new Database(dbPath(d.path), { create: true });
  for (const m of MIGRATIONS.filter((m) => m.version <= version)) old.exec(m.sql);
  old.exec(`PRAGMA user_version = ${version}`);
  return { d, old };
}

/** The usage table's columns as [name, notnull] pairs. */
const usageColumns = (s: Store) =>
  (s.db.query("PRAGMA table_info(usage)").all() as { name: string; notnull: number }[]).map((c) => [
    c.name,
    c.notnull,
  ]);

describe("store migrations", () => {
  test("a database at schema version 1 gets usage.user_id on open; nothing is lost", () => {
    // The previous schema exactly as released: migration 1 only, user_version 1, with data.
    const { d, old } = databaseAt(1);
    old.exec(`INSERT INTO sessions (id, key, created_at, updated_at) VALUES ('s1', 'agent:main:main', 1, 1)`);
    old.exec(`INSERT INTO messages (id, session_id, role, content, created_at)
              VALUES ('m1', 's1', 'user', '[{"type":"text","text":"kept"}]', 2)`);
    old.exec(`INSERT INTO outbox (message_id, created_at) VALUES ('m1', 2)`);
    old.exec(`INSERT INTO usage (request_id, ts, provider, model, status, input_tokens, output_tokens, conversation_id)
              VALUES ('r-old', 5, 'anthropic', 'claude', 'ok', 11, 7, 'conv-1')`);
    old.close();

    const s = openStore(d.path);
    stores.push(s);
    expect(s.schemaVersion).toBe(MIGRATIONS.at(-1)!.version);
    const cols = usageColumns(s);
    expect(cols).toContainEqual(["user_id", 0]);
    expect(s.db.query("SELECT request_id, user_id, input_tokens, conversation_id FROM usage").all()).toEqual([
      { request_id: "r-old", user_id: null, input_tokens: 11, conversation_id: "conv-1" },
    ]);
    expect(s.listMessages("s1").map((m) => m.content)).toEqual([[{ type: "text", text: "kept" }]]);
    expect(s.outboxStats()).toMatchObject({ pending: 1, lastSeq: 1 });
    expect(s.usageTotals(0)).toEqual([
      expect.objectContaining({ provider: "anthropic", model: "claude", requests: 1, inputTokens: 11 }),
    ]);
    // New rows take a user; the old one keeps none.
    s.recordUsage({
      requestId: "r-new",
      provider: "anthropic",
      model: "claude",
      status: "ok",
      usage: { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
      userId: "user_new",
    });
    expect(s.usageTotals(0, "user_new")).toEqual([expect.objectContaining({ requests: 1, inputTokens: 1 })]);
    expect(s.usageTotals(0)).toEqual([expect.objectContaining({ requests: 2, inputTokens: 12 })]);
    s.close();
    stores.pop();
    // Reopening runs nothing again.
    const again = openStore(d.path);
    stores.push(again);
    expect(again.schemaVersion).toBe(MIGRATIONS.at(-1)!.version);
    expect(again.usageTotals(0)).toEqual([expect.objectContaining({ requests: 2 })]);
  });

  test("a database at schema version 4 gets usage.end_user on open; old rows keep theirs (null)", () => {
    const { d, old } = databaseAt(4);
    old.exec(`INSERT INTO usage (request_id, ts, provider, model, status, input_tokens, output_tokens, user_id)
              VALUES ('r-old', 5, 'openai', 'gpt', 'ok', 3, 4, 'user_a')`);
    old.close();

    const s = openStore(d.path);
    stores.push(s);
    expect(s.schemaVersion).toBe(MIGRATIONS.at(-1)!.version);
    const cols = usageColumns(s);
    expect(cols).toContainEqual(["end_user", 0]);
    expect(s.db.query("SELECT request_id, user_id, end_user, input_tokens FROM usage").all()).toEqual([
      { request_id: "r-old", user_id: "user_a", end_user: null, input_tokens: 3 },
    ]);
    const zero = {
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    };
    s.recordUsage({
      requestId: "r-new",
      provider: "openai",
      model: "gpt",
      status: "ok",
      usage: { ...zero, inputTokens: 10 },
      userId: "user_a",
      endUser: "cust-1",
    });
    expect(s.usageTotals(0, undefined, "cust-1")).toEqual([
      expect.objectContaining({ requests: 1, inputTokens: 10 }),
    ]);
    expect(s.usageTotals(0, "user_a")).toEqual([expect.objectContaining({ requests: 2, inputTokens: 13 })]);
    expect(s.usageTotals(0, "user_b", "cust-1")).toEqual([]);
    expect(s.usageTotals(0, undefined, "cust-2")).toEqual([]);
  });

  test("a database at schema version 5 gets the lean usage table (v6): rows and ids kept, one index, no sequence", () => {
    const { d, old } = databaseAt(5);
    for (const [id, ts, user, end] of [
      [7, 5, "user_a", null],
      [9, 6, null, "cust-1"],
    ] as const)
      old.exec(`INSERT INTO usage (id, request_id, ts, provider, model, status, input_tokens, output_tokens, user_id, end_user)
                VALUES (${id}, 'r-${id}', ${ts}, 'openai', 'gpt', 'ok', 3, 4, ${user ? `'${user}'` : "NULL"}, ${end ? `'${end}'` : "NULL"})`);
    old.close();

    const s = openStore(d.path);
    stores.push(s);
    expect(s.schemaVersion).toBe(6);
    const indexes = s.db
      .query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage'")
      .all();
    expect(indexes).toEqual([{ name: "usage_by_ts" }]);
    const ddl = (s.db.query("SELECT sql FROM sqlite_master WHERE name = 'usage'").get() as { sql: string })
      .sql;
    expect(ddl).not.toContain("AUTOINCREMENT");
    expect(s.db.query("SELECT name FROM sqlite_sequence WHERE name = 'usage'").all()).toEqual([]);
    expect(s.db.query("SELECT id, request_id, user_id, end_user FROM usage ORDER BY id").all()).toEqual([
      { id: 7, request_id: "r-7", user_id: "user_a", end_user: null },
      { id: 9, request_id: "r-9", user_id: null, end_user: "cust-1" },
    ]);
    const zero = {
      inputTokens: 1,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    };
    s.recordUsage({ requestId: "r-new", provider: "openai", model: "gpt", status: "ok", usage: zero, ts: 8 });
    // New rows continue after the highest id; the user and end-user filters still answer.
    expect(s.flushUsage()).toBe(true);
    expect(s.db.query("SELECT id FROM usage WHERE request_id = 'r-new'").get()).toEqual({ id: 10 });
    expect(s.usageTotals(0, "user_a")).toEqual([expect.objectContaining({ requests: 1, inputTokens: 3 })]);
    expect(s.usageTotals(0, undefined, "cust-1")).toEqual([expect.objectContaining({ requests: 1 })]);
    expect(s.usageTotals(0)).toEqual([expect.objectContaining({ requests: 3, inputTokens: 7 })]);
  });
});
