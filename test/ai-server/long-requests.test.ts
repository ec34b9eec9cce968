/**
 * Bun's own timers must not cut legitimate long requests:
 * - `Bun.serve` idle timeout (default 10 s): the app lifts it per request (`server.timeout(req, 0)`
 *   via `holdOpen`). Shown here with a 1 s server idle timeout and a 6 s silent upstream — a stream
 *   caller's upstream stream silent before its first token, and a non-stream caller's ONE
 *   non-stream upstream request (`stream:false`, checked on the simulator's log) silent before its
 *   response — next to a control server without `holdOpen` that Bun does cut (its socket sweep
 *   runs every ~4 s). The
 *   lifted timeout is restored as the reply ends, so an idle keep-alive connection is still reaped.
 * - Bun `fetch`'s ~300 s socket idle timeout: every upstream request the three SDKs make goes
 *   through our fetch with `timeout: false` (checked on the calls themselves): a stream caller's
 *   upstream stream and a non-stream caller's non-stream upstream request alike.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { waitFor } from "../helpers/index.ts";
import { parseSse, postChat, startTestAiServer, type TestAiServer } from "./harness.ts";

let sim: UpstreamSim;
const servers: TestAiServer[] = [];
// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON bodies
type Json = Record<string, any>;

beforeAll(async () => {
  sim = await startUpstreamSim();
});
afterAll(() => sim.stop());
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  sim.reset();
});

const slow = { firstTokenTimeoutMs: 30_000, connectTimeoutMs: 30_000, keepAliveMs: 60_000, maxRetries: 0 };

test("a 6 s silent upstream outlives a 1 s Bun.serve idle timeout (a stream, and a non-stream caller's stream:false request); without holdOpen Bun cuts it", async () => {
  const held = await startTestAiServer(sim, slow, undefined, { idleTimeoutS: 1 });
  const control = await startTestAiServer(sim, slow, undefined, { idleTimeoutS: 1, holdOpen: false });
  servers.push(held, control);
  const msg = [{ role: "user", content: "slow" }];
  const [stream, nonStream, cut] = await Promise.all([
    postChat(held.url, { model: "anthropic/sim@ttft=6000,tokens=2", stream: true, messages: msg }).then((r) =>
      r.text(),
    ),
    postChat(held.url, { model: "openai/sim@latency=6000,tokens=2", messages: msg }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as Json,
    })),
    postChat(control.url, { model: "google/sim@ttft=6000,tokens=2", stream: true, messages: msg })
      .then((r) => r.text())
      .catch((e: unknown) => `cut: ${String(e)}`),
  ]);
  expect(parseSse(stream).events.at(-1)?.event).toBe("done");
  expect(nonStream.status).toBe(200);
  expect(nonStream.body.message.content[0].text).toBe("You said: slow. w1");
  // The non-stream caller's upstream was one non-stream request, silent 6 s before its response.
  expect(sim.requests.filter((r) => r.provider === "openai").map((r) => r.stream)).toEqual([false]);
  expect(sim.requests.filter((r) => r.provider === "anthropic").map((r) => r.stream)).toEqual([true]);
  // The control: same request, no holdOpen — the server's idle timer closes the connection.
  expect(cut).not.toContain("event: done");
}, 20_000);

/** One HTTP/1.1 keep-alive request on a raw socket; resolves once the reply is complete. */
async function rawKeepAlive(url: string, body: unknown, complete: (text: string) => boolean) {
  const u = new URL(url);
  const json = JSON.stringify(body);
  const state = { text: "", closed: false };
  let done: () => void = () => {};
  const replied = new Promise<void>((r) => {
    done = r;
  });
  const socket = await Bun.connect({
    hostname: u.hostname,
    port: Number(u.port),
    socket: {
      data(_s, chunk) {
        state.text += new TextDecoder().decode(chunk);
        if (complete(state.text)) done();
      },
      close() {
        state.closed = true;
      },
    },
  });
  socket.write(
    `POST /chat HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
  );
  await replied;
  return { state, socket };
}

test("after a chat reply the keep-alive connection is reaped again by the server idle timeout", async () => {
  const s = await startTestAiServer(sim, { maxRetries: 0 }, undefined, { idleTimeoutS: 1 });
  servers.push(s);
  const msg = [{ role: "user", content: "k" }];
  const conns = await Promise.all([
    rawKeepAlive(s.url, { model: "anthropic/sim@tokens=2", stream: true, messages: msg }, (t) =>
      t.includes("0\r\n\r\n"),
    ),
    rawKeepAlive(s.url, { model: "openai/sim@tokens=2", messages: msg }, (t) => t.endsWith("}")),
  ]);
  try {
    expect(conns[0].state.text).toContain("event: done");
    expect(conns[1].state.text).toContain("HTTP/1.1 200");
    // Idle after the reply: Bun's 1 s idle timeout (swept every ~4 s) closes both connections.
    await waitFor(() => conns.every((c) => c.state.closed), {
      timeoutMs: 15_000,
      what: "the server to close the idle keep-alive connections",
    });
  } finally {
    for (const c of conns) c.socket.end();
  }
}, 20_000);

test("every upstream fetch of the three SDKs (stream, and a non-stream caller's non-stream request) has Bun's socket idle timeout off", async () => {
  const s = await startTestAiServer(sim);
  servers.push(s);
  const original = globalThis.fetch;
  const calls: { url: string; timeout: unknown }[] = [];
  globalThis.fetch = Object.assign(
    (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url.startsWith(sim.url)) calls.push({ url, timeout: (init as { timeout?: unknown })?.timeout });
      return original(input, init);
    },
    { preconnect: original.preconnect },
  );
  try {
    for (const provider of ["anthropic", "openai", "google"] as const)
      for (const stream of [false, true]) {
        const res = await postChat(s.url, {
          model: `${provider}/sim@tokens=2`,
          stream,
          messages: [{ role: "user", content: "t" }],
        });
        expect(res.status).toBe(200);
        await res.text();
      }
  } finally {
    globalThis.fetch = original;
  }
  expect(sim.requests).toHaveLength(6);
  // Each caller's upstream request has the caller's kind: a non-stream caller's is non-stream.
  expect(sim.requests.map((r) => `${r.provider}:${r.stream}`)).toEqual([
    "anthropic:false",
    "anthropic:true",
    "openai:false",
    "openai:true",
    "google:false",
    "google:true",
  ]);
  expect(calls).toHaveLength(6);
  expect(calls.every((c) => c.timeout === false)).toBe(true);
});
