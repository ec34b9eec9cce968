import { expect, test } from "bun:test";
import { createLogger, memoryDestination } from "../shared/log.ts";
import { Connection, type SocketLike } from "./connection.ts";
import { ConnectionRegistry } from "./connections.ts";

const socket = (): SocketLike => ({ send: () => 1, close: () => {}, getBufferedAmount: () => 0 });

test("a connection is pending, then open, then closed: one close line with the first cause", () => {
  const logs = memoryDestination();
  const reg = new ConnectionRegistry(
    createLogger({ proc: "gateway", destination: logs, pretty: false }),
    () => 50,
  );
  const c = new Connection(socket(), { connId: "c1", addr: "a", openedAt: 0, maxBufferedBytes: 1000 });
  reg.add(c);
  expect([reg.size, reg.pendingCount, [...reg.pending()]]).toEqual([1, 1, [c]]);
  reg.open(c, { protocol: 4, clientId: "cli", clientMode: "webchat" });
  expect([reg.size, reg.pendingCount, c.state, c.protocol]).toEqual([1, 0, "open", 4]);
  c.close(1008, "slow consumer");
  c.close(1000, "later");
  reg.markClosed(c, 1006, "");
  reg.markClosed(c, 1006, "");
  expect(reg.size).toBe(0);
  const lines = logs.records().filter((r) => r.msg === "gateway connection closed");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({
    connId: "c1",
    cause: "1008 slow consumer",
    authenticated: true,
    durationMs: 50,
  });
});

test("a client close is the cause when the server closed nothing; pending connections leave too", () => {
  const logs = memoryDestination();
  const reg = new ConnectionRegistry(
    createLogger({ proc: "gateway", destination: logs, pretty: false }),
    () => 0,
  );
  const c = new Connection(socket(), { connId: "c2", addr: "a", openedAt: 0, maxBufferedBytes: 1000 });
  reg.add(c);
  reg.markClosed(c, 1001, "going away".repeat(20));
  expect([reg.size, reg.pendingCount]).toEqual([0, 0]);
  const line = logs.records().find((r) => r.msg === "gateway connection closed");
  expect(line).toMatchObject({ authenticated: false });
  expect(String(line?.cause ?? "").length).toBeLessThanOrEqual("client closed 1001 ".length + 60);
});
