/**
 * Abuse the gateway while a healthy client keeps chatting: a flood of wrong tokens (rate limited
 * per address), a client that never reads (slow consumer), and two thousand connections opening and
 * closing (some mid-handshake). The gateway stays up, answers every case as specified, loses
 * nothing, and ends with no leaked connections.
 */
import { expect, test } from "bun:test";
import { childEnv, ROOT, spawnCaptured, waitFor } from "../helpers/index.ts";
import { gatewayHarness, RawClient, TOKEN } from "./helpers.ts";

const h = gatewayHarness();

/** One full chat turn on `c`; returns the final text. */
async function chatOnce(c: RawClient, key: string): Promise<string> {
  const res = await c.call("chat.send", { sessionKey: "healthy", message: key, idempotencyKey: key });
  expect(res.ok).toBe(true);
  const end = await c.terminal(key);
  expect(end.state).toBe("final");
  return (end.message as { content: { text: string }[] }).content[0]?.text ?? "";
}

test("a flood of wrong tokens is rate limited per address; the healthy client keeps chatting", async () => {
  const t = await h.start({ settings: { GATEWAY_AUTH_MAX_FAILURES: 10 } });
  const healthy = await h.connect();
  const results: Record<string, unknown>[] = [];
  for (let i = 0; i < 15; i++) {
    const c = await h.open();
    const res = await c.handshake({ auth: { token: `wrong-${i}` } });
    results.push(res.error as Record<string, unknown>);
    expect((await c.waitClosed()).code).toBe(1008);
    if (i === 7) expect(await chatOnce(healthy, "during-flood")).toStartWith("You said: during-flood.");
  }
  const codes = results.map((e) => (e.details as { code: string }).code);
  expect(codes.slice(0, 10)).toEqual(Array(10).fill("AUTH_TOKEN_MISMATCH"));
  expect(codes.slice(10)).toEqual(Array(5).fill("AUTH_RATE_LIMITED"));
  const limited = results[10] as { retryable: boolean; retryAfterMs: number; code: string };
  expect(limited.code).toBe("INVALID_REQUEST");
  expect(limited.retryable).toBe(true);
  expect(limited.retryAfterMs).toBeGreaterThan(0);
  expect(limited.retryAfterMs).toBeLessThanOrEqual(60_000);
  // While limited, even the right token from that address is refused (no oracle for guessing).
  const right = await h.open();
  expect(((await right.handshake()).error as { details: { code: string } }).details.code).toBe(
    "AUTH_RATE_LIMITED",
  );
  // The already-connected client is unaffected.
  expect(await chatOnce(healthy, "after-flood")).toStartWith("You said: after-flood.");
  expect(t.logs.lines.join("")).not.toContain(TOKEN);
});

test("a client that never reads is closed 1008 slow consumer; others keep chatting", async () => {
  const t = await h.start({ settings: { GATEWAY_MAX_BUFFERED_BYTES: 64 * 1024 } });
  const healthy = await h.connect();
  // Some history worth reading back, ~100 KB per chat.history answer.
  const big = "x".repeat(50_000);
  for (let i = 0; i < 2; i++) {
    await healthy.call("chat.send", { sessionKey: "big", message: `${big}${i}`, idempotencyKey: `big-${i}` });
    await healthy.terminal(`big-${i}`);
  }
  // A real Node process with the `ws` package: it authenticates, stops reading from its TCP
  // socket, and keeps asking for ~100 KB history answers. The kernel buffers fill, then the
  // gateway's own send buffer grows past the limit.
  const slow = spawnCaptured(["node", "-e", SLOW_CLIENT, t.wsUrl, TOKEN], childEnv());
  h.defer(async () => {
    slow.kill("SIGKILL");
    await slow.exited;
  });
  await slow.waitForOutput(/paused/);
  await waitFor(
    () =>
      t.logs.records().find((r) => r.msg === "gateway connection closed" && r.cause === "1008 slow consumer"),
    { timeoutMs: 30_000, what: "slow consumer closed" },
  );
  expect(await chatOnce(healthy, "after-slow")).toStartWith("You said: after-slow.");
  await waitFor(() => t.gw.stats().connections === 1, { what: "the slow connection gone" });
});

const SLOW_CLIENT = `
const WebSocket = require(${JSON.stringify(`${ROOT}/node_modules/ws`)});
const [url, token] = process.argv.slice(1);
const ws = new WebSocket(url, { perMessageDeflate: false });
ws.on("error", () => {});
ws.on("message", (d) => {
  const f = JSON.parse(d.toString());
  if (f.event === "connect.challenge") {
    ws.send(JSON.stringify({ type: "req", id: "c", method: "connect", params: {
      minProtocol: 4, maxProtocol: 4, client: { id: "test", version: "1", platform: "node", mode: "test" }, auth: { token } } }));
  } else if (f.type === "res" && f.id === "c" && f.ok) {
    ws._socket.pause();
    console.log("paused");
    let i = 0;
    const pump = () => {
      for (let k = 0; k < 20 && i < 2000; k++, i++)
        ws.send(JSON.stringify({ type: "req", id: "h" + i, method: "chat.history", params: { sessionKey: "big" } }));
      if (i < 2000) setTimeout(pump, 5);
    };
    pump();
  }
});
`;

test("two thousand connections opening and closing (some mid-handshake) leave nothing behind", async () => {
  const t = await h.start();
  const healthy = await h.connect();
  let turns = 0;
  const chatter = (async () => {
    while (turns < 5) {
      await chatOnce(healthy, `churn-${turns}`);
      turns++;
    }
  })();
  const CHURN = 2000;
  const batch = 50;
  for (let b = 0; b < CHURN / batch; b++) {
    await Promise.all(
      Array.from({ length: batch }, async (_, i) => {
        const c = await RawClient.open(t.wsUrl);
        if (i % 3 === 0) {
          c.close(); // mid-handshake
        } else if (i % 3 === 1) {
          await c.handshake();
          c.close();
        } else {
          c.ws.terminate(); // abrupt
        }
        await c.waitClosed();
      }),
    );
  }
  await chatter;
  expect(turns).toBe(5);
  await waitFor(() => t.gw.stats().connections === 1, { what: "only the healthy connection left" });
  expect(t.gw.stats().upgrades).toBe(CHURN + 1);
  expect(await chatOnce(healthy, "after-churn")).toStartWith("You said: after-churn.");
}, 60_000);
