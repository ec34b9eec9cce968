/**
 * Batching against a real SQLite store: seq order, the contract's limits (clamped whatever is
 * configured), and isolating an entry the receiver rejected alone.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { openStore, type Store } from "../../src/shared/store/index.ts";
import {
  Batcher,
  batchLimits,
  ENVELOPE_BYTES,
  MAX_BATCH_BYTES,
  MAX_BATCH_ENTRIES,
  splitHalves,
} from "../../src/sync/batching.ts";
import { encodeBatch } from "../../src/sync/push.ts";
import { tempDir } from "../helpers/index.ts";

let dir: { path: string; cleanup(): void };
let store: Store;
let sessionId: string;
beforeEach(() => {
  dir = tempDir("pipbot-batching-");
  store = openStore(dir.path);
  sessionId = store.getOrCreateSession("main").id;
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

const write = (n: number, text = (i: number) => `m${i}`) => {
  for (let i = 0; i < n; i++)
    store.appendMessage({ sessionId, role: "user", content: [{ type: "text", text: text(i) }] });
};

describe("batching", () => {
  test("limits are clamped to sync-v1's 200 entries and 1,000,000 bytes", () => {
    expect(batchLimits()).toEqual({ maxEntries: MAX_BATCH_ENTRIES, maxBytes: MAX_BATCH_BYTES });
    expect(batchLimits(500, 5_000_000)).toEqual({ maxEntries: 200, maxBytes: 1_000_000 });
    expect(batchLimits(0, 10)).toEqual({ maxEntries: 1, maxBytes: ENVELOPE_BYTES + 1 });
    expect(batchLimits(50, 20_000)).toEqual({ maxEntries: 50, maxBytes: 20_000 });
  });

  test("the next batch is the oldest pending entries in seq order, within both limits", () => {
    write(450);
    const b = new Batcher(store, batchLimits());
    const first = b.next();
    expect(first.length).toBe(200);
    expect(first.map((e) => e.seq)).toEqual(first.map((_, i) => i + 1));
    store.markDelivered(first.map((e) => e.seq));
    expect(b.next()[0]!.seq).toBe(201);
  });

  test("the byte budget holds with the envelope: the encoded body stays within maxBytes", () => {
    write(30, (i) => `${i} ${"x".repeat(4_000)}`);
    const b = new Batcher(store, batchLimits(200, 50_000));
    const page = b.next();
    expect(page.length).toBeGreaterThan(1);
    expect(page.length).toBeLessThan(30);
    expect(encodeBatch(page, { userId: "user_x", machineId: "m" }).bytes).toBeLessThanOrEqual(50_000);
  });

  test("an isolated entry is sent alone until it is resolved", () => {
    write(10);
    const b = new Batcher(store, batchLimits());
    b.isolate(1);
    expect(b.next().map((e) => e.seq)).toEqual([1]);
    expect(b.next().map((e) => e.seq)).toEqual([1]);
    b.resolved([1]);
    expect(b.next().length).toBe(10);
    // Isolation ends by itself once the entry is no longer the oldest pending one.
    b.isolate(1);
    store.quarantine(1, "HTTP 400");
    expect(b.next().map((e) => e.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  test("halves keep seq order, first half first", () => {
    expect(splitHalves([1, 2, 3, 4, 5])).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    expect(splitHalves([1, 2])).toEqual([[1], [2]]);
  });
});
