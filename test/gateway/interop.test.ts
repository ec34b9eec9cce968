/**
 * Interop with the REAL reference client `@openclaw/gateway-client` (GatewayClient, protocol 4):
 * connect, chat (deltas + final), history, abort, and a wrong token that must stop it from
 * reconnecting (counted server-side).
 */
import { expect, test } from "bun:test";
import { GatewayClient, type GatewayReconnectPausedInfo } from "@openclaw/gateway-client";
import { waitFor } from "../helpers/index.ts";
import { gatewayHarness, type TestGateway, TOKEN } from "./helpers.ts";

type Ev = { event: string; payload?: unknown; seq?: number };

const h = gatewayHarness();
let t: TestGateway;

/** A started GatewayClient, stopped after the test. */
function track(c: GatewayClient): GatewayClient {
  h.track({ close: () => c.stop() });
  return c;
}

function client(token: string) {
  const events: Ev[] = [];
  const gaps: unknown[] = [];
  const errors: Error[] = [];
  let hello: Record<string, unknown> | null = null;
  let paused: GatewayReconnectPausedInfo | null = null;
  const c = new GatewayClient({
    url: t.wsUrl,
    token,
    deviceIdentity: null,
    requestTimeoutMs: 10_000,
    onEvent: (e) => void events.push(e as Ev),
    onHelloOk: (h) => {
      hello = h as unknown as Record<string, unknown>;
    },
    onConnectError: (e) => void errors.push(e),
    onReconnectPaused: (info) => {
      paused = info;
    },
    onGap: (g) => void gaps.push(g),
  });
  track(c);
  c.start();
  return {
    c,
    events,
    gaps,
    errors,
    hello: () => hello,
    paused: () => paused,
    chat: (runId: string) =>
      events
        .filter((e) => e.event === "chat")
        .map((e) => e.payload as Record<string, unknown>)
        .filter((p) => p.runId === runId),
  };
}

test("GatewayClient connects, chats (deltas + final), reads history and aborts", async () => {
  t = await h.start();
  const k = client(TOKEN);
  const hello = await waitFor(() => k.hello(), { what: "hello-ok" });
  expect(hello.protocol).toBe(4);

  const ack = await k.c.request("chat.send", {
    sessionKey: "main",
    message: "interop",
    idempotencyKey: "io-1",
  });
  expect(ack).toEqual({ runId: "io-1", status: "started" });
  const fin = await waitFor(() => k.chat("io-1").find((p) => p.state === "final"), { what: "final" });
  const deltas = k.chat("io-1").filter((p) => p.state === "delta");
  expect(deltas.length).toBeGreaterThan(0);
  expect(deltas.map((d) => d.deltaText).join("")).toBe("You said: interop. w1 w2 w3 w4 w5");
  expect((fin.message as { content: { text: string }[] }).content[0]?.text).toBe(
    "You said: interop. w1 w2 w3 w4 w5",
  );

  const hist = await k.c.request<{ messages: { role: string }[] }>("chat.history", {
    sessionKey: "main",
    limit: 10,
  });
  expect(hist.messages.map((m) => m.role)).toEqual(["user", "assistant"]);

  await k.c.request("chat.send", { sessionKey: "main", message: "[slow] long one", idempotencyKey: "io-2" });
  await waitFor(() => k.chat("io-2").length >= 2, { what: "deltas of io-2" });
  const ab = await k.c.request("chat.abort", { sessionKey: "main", runId: "io-2" });
  expect(ab).toEqual({ ok: true, aborted: true, runIds: ["io-2"] });
  const end = await waitFor(() => k.chat("io-2").find((p) => p.state === "aborted"), { what: "aborted" });
  expect(end.stopReason).toBe("rpc");
  expect(t.store.getRun("io-2")?.state).toBe("aborted");

  const unknown = await k.c.request("nope.nope", {}).catch((e: Error) => e);
  expect(unknown).toBeInstanceOf(Error);
  expect(String((unknown as Error).message)).toContain("unknown method");
  expect(k.gaps).toEqual([]);
});

test("a wrong token: AUTH_TOKEN_MISMATCH, close 1008, and the client stops reconnecting", async () => {
  t = await h.start();
  const closes: number[] = [];
  const k = client("definitely-wrong-token");
  k.c.stop();
  // A fresh client with onClose so the close code is observed.
  const paused: GatewayReconnectPausedInfo[] = [];
  const errors: Error[] = [];
  const c = new GatewayClient({
    url: t.wsUrl,
    token: "definitely-wrong-token",
    deviceIdentity: null,
    onConnectError: (e) => void errors.push(e),
    onReconnectPaused: (info) => void paused.push(info),
    onClose: (code) => void closes.push(code),
  });
  track(c);
  const upgradesBefore = t.gw.stats().upgrades;
  c.start();
  const info = await waitFor(() => paused[0], { what: "reconnect paused" });
  expect(info.detailCode).toBe("AUTH_TOKEN_MISMATCH");
  expect(info.code).toBe(1008);
  expect(closes).toContain(1008);
  expect(errors.some((e) => /token mismatch/.test(e.message))).toBe(true);
  const attempts = t.gw.stats().upgrades - upgradesBefore;
  expect(attempts).toBe(1);
  // Its reconnect backoff starts at 1 s: wait up to 3 s for another attempt; none may arrive.
  const again = await waitFor(() => t.gw.stats().upgrades - upgradesBefore > attempts, {
    timeoutMs: 3000,
    what: "a reconnect attempt",
  }).catch(() => false);
  expect(again).toBe(false);
});

test("AUTH_RATE_LIMITED: the client gets retryAfterMs and stops reconnecting", async () => {
  t = await h.start({ settings: { GATEWAY_AUTH_MAX_FAILURES: 1 } });
  const watch = (token: string) => {
    const paused: GatewayReconnectPausedInfo[] = [];
    const errors: Error[] = [];
    const c = track(
      new GatewayClient({
        url: t.wsUrl,
        token,
        deviceIdentity: null,
        onConnectError: (e) => void errors.push(e),
        onReconnectPaused: (info) => void paused.push(info),
      }),
    );
    c.start();
    return { paused, errors };
  };
  const wrong = watch("definitely-wrong-token");
  expect((await waitFor(() => wrong.paused[0], { what: "paused after mismatch" })).detailCode).toBe(
    "AUTH_TOKEN_MISMATCH",
  );
  // The address is now limited: even the right token is refused, with a retry hint.
  const before = t.gw.stats().upgrades;
  const right = watch(TOKEN);
  const info = await waitFor(() => right.paused[0], { what: "paused after rate limit" });
  expect(info.detailCode).toBe("AUTH_RATE_LIMITED");
  expect(info.code).toBe(1008);
  const err = right.errors[0] as Error & { details?: unknown; retryAfterMs?: number };
  expect(String(err.message)).toContain("too many failed authentication attempts");
  expect(t.gw.stats().upgrades - before).toBe(1);
  const limited = t.logs.records().find((r) => r.msg === "gateway auth rate limited");
  expect(limited?.retryAfterMs as number).toBeGreaterThan(0);
});
