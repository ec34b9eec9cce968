/** Slow-consumer handling of a Connection over a fake socket. */
import { describe, expect, test } from "bun:test";
import { Connection } from "./connection.ts";

describe("slow consumer (Connection over a fake socket)", () => {
  function fakeSocket() {
    const sock = {
      buffered: 0,
      sent: [] as string[],
      closed: null as { code?: number; reason?: string } | null,
      send(data: string) {
        sock.sent.push(data);
        return data.length;
      },
      close(code?: number, reason?: string) {
        sock.closed = { code, reason };
      },
      getBufferedAmount: () => sock.buffered,
    };
    return sock;
  }

  test("over maxBufferedBytes: ticks and deltas are dropped without a seq gap; anything else closes 1008", () => {
    const sock = fakeSocket();
    const conn = new Connection(sock, { connId: "c1", addr: "a", openedAt: 0, maxBufferedBytes: 100 });
    conn.state = "open";
    expect(conn.sendEvent("tick", '{"ts":1}', true)).toBe(true);
    sock.buffered = 101;
    expect(conn.sendEvent("tick", '{"ts":2}', true)).toBe(false);
    expect(conn.sendEvent("chat", '{"state":"delta"}', true)).toBe(false);
    expect(conn.droppedEvents).toBe(2);
    expect(sock.closed).toBeNull();
    sock.buffered = 0;
    expect(conn.sendEvent("chat", '{"state":"delta"}', true)).toBe(true);
    const seqs = sock.sent.map((s) => (JSON.parse(s) as { seq: number }).seq);
    expect(seqs).toEqual([1, 2]);
    sock.buffered = 101;
    expect(conn.sendEvent("chat", '{"state":"final"}')).toBe(false);
    expect(sock.closed).toEqual({ code: 1008, reason: "slow consumer" });
    expect(conn.closeCause).toBe("1008 slow consumer");
    expect(sock.sent).toHaveLength(2);
  });

  test("a response over the limit closes 1008 too", () => {
    const sock = fakeSocket();
    const conn = new Connection(sock, { connId: "c2", addr: "a", openedAt: 0, maxBufferedBytes: 10 });
    conn.state = "open";
    sock.buffered = 11;
    expect(conn.sendResponse({ type: "res", id: "1", ok: true, payload: {} })).toBe(false);
    expect(sock.closed).toEqual({ code: 1008, reason: "slow consumer" });
  });
});
