/**
 * Gateway benchmark (run: `bun bench/gateway.ts`; not part of `bun test`). Everything runs in
 * one go against the REAL AI server (`pipbot ai`) on the upstream simulator, with the gateway as
 * its own process (`pipbot gateway`) so its memory can be read from /proc:
 *
 *  1. time to first token: a client over the gateway vs the same request sent to the AI server
 *     directly (baseline), sequential, p50/p99 and the added latency;
 *  2. throughput: BENCH_CONCURRENCY (200) concurrent streaming chats, each must end in a terminal
 *     chat event;
 *  3. memory: gateway RSS before/after BENCH_IDLE (1000) idle authenticated connections.
 *
 * Targets: added TTFT p50 ≤ 2 ms; ≤ 20 KB per idle connection.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { startUpstreamSim } from "../src/dev/upstream-sim.ts";
import {
  childEnv,
  freePort,
  type RunningProcess,
  spawnPipbot,
  tempDir,
  waitFor,
} from "../test/helpers/index.ts";

const N_TTFT = Number(process.env.BENCH_TTFT_N ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 200);
const IDLE = Number(process.env.BENCH_IDLE ?? 1000);
const TOKEN = "bench-token-0123456789";
const MODEL_FAST = "anthropic/sim@tokens=5";

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}
const f = (n: number) => n.toFixed(2);

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0);
}

async function ok(url: string) {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

/**
 * A minimal protocol-4 client on Bun's native WebSocket (the one `pipbot chat` uses; the direct
 * baseline uses Bun's native fetch, so neither side pays for a JS protocol library): connect, then
 * request/response + event callback.
 */
async function wsClient(
  url: string,
  onEvent: (e: { event: string; payload: Record<string, unknown> }) => void,
) {
  const ws = new WebSocket(url);
  const waiting = new Map<string, (f: Record<string, unknown>) => void>();
  let n = 0;
  const { promise: challenged, resolve: onChallenge } = Promise.withResolvers<void>();
  ws.onmessage = (m) => {
    const fr = JSON.parse(String(m.data)) as Record<string, unknown>;
    if (fr.type === "res") waiting.get(fr.id as string)?.(fr);
    else if (fr.event === "connect.challenge") onChallenge();
    else onEvent(fr as never);
  };
  await new Promise<void>((r, j) => {
    ws.onopen = () => r();
    ws.onerror = (e) => j(e);
  });
  const call = (method: string, params: unknown) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const id = `b${++n}`;
      waiting.set(id, (fr) => {
        waiting.delete(id);
        resolve(fr);
      });
      ws.send(JSON.stringify({ type: "req", id, method, params }));
    });
  await challenged;
  const hello = await call("connect", {
    minProtocol: 4,
    maxProtocol: 4,
    client: { id: "test", version: "1", platform: "bench", mode: "test" },
    auth: { token: TOKEN },
  });
  if (!hello.ok) throw new Error(`connect failed: ${JSON.stringify(hello.error)}`);
  return { ws, call };
}

async function main() {
  const sim = await startUpstreamSim();
  const dir = tempDir("pipbot-bench-gw-");
  const aiPort = await freePort();
  const aiUrl = `http://127.0.0.1:${aiPort}`;
  const ai = spawnPipbot(
    ["ai"],
    childEnv({
      AI_PORT: String(aiPort),
      DATA_DIR: dir.path,
      ANTHROPIC_BASE_URL: sim.url,
      ANTHROPIC_API_KEY: "sim",
      AI_DEFAULT_MODEL: "anthropic/sim",
      PIPBOT_SIMULATOR: "1",
      LOG_LEVEL: "warn",
    }),
  );
  const gatewayProc = async (dataDir: string) => {
    const port = await freePort();
    const proc = spawnPipbot(
      ["gateway"],
      childEnv({
        GATEWAY_PORT: String(port),
        DATA_DIR: dataDir,
        AI_URL: aiUrl,
        CLAWDBOT_GATEWAY_TOKEN: TOKEN,
        AI_DEFAULT_MODEL: MODEL_FAST,
        SYNC_STATUS_PORT: String(await freePort()),
        LOG_LEVEL: "warn",
      }),
    );
    return { proc, port };
  };
  const { proc: gw, port: gwPort } = await gatewayProc(dir.path);
  const memDir = tempDir("pipbot-bench-gw-mem-");
  let gwMem: RunningProcess | undefined;
  const out: string[] = [];
  const log = (s: string) => {
    out.push(s);
    console.log(s);
  };
  try {
    await waitFor(() => ok(`${aiUrl}/healthz`), { timeoutMs: 30_000, what: "AI server" });
    await waitFor(() => ok(`http://127.0.0.1:${gwPort}/healthz`), { timeoutMs: 30_000, what: "gateway" });
    const wsUrl = `ws://127.0.0.1:${gwPort}`;

    // ---- 1. TTFT ---------------------------------------------------------------------------
    const direct: number[] = [];
    const viaGw: number[] = [];
    const firstDelta = new Map<string, () => void>();
    const c = await wsClient(wsUrl, (e) => {
      if (e.event === "chat" && e.payload.state === "delta") firstDelta.get(e.payload.runId as string)?.();
    });
    const ttftDirect = async (i: number) => {
      const t0 = performance.now();
      const res = await fetch(`${aiUrl}/chat`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: MODEL_FAST,
          messages: [{ role: "user", content: `direct ${i}` }],
          stream: true,
        }),
      });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const dec = new TextDecoder();
      let buf = "";
      let ttft = -1;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        if (ttft < 0 && buf.includes("event: delta")) ttft = performance.now() - t0;
      }
      return ttft;
    };
    const ttftGateway = async (i: number) => {
      const runId = `ttft-${i}`;
      const { promise, resolve } = Promise.withResolvers<number>();
      const t0 = performance.now();
      firstDelta.set(runId, () => {
        firstDelta.delete(runId);
        resolve(performance.now() - t0);
      });
      await c.call("chat.send", { sessionKey: `ttft-${i}`, message: `gateway ${i}`, idempotencyKey: runId });
      return promise;
    };
    for (let i = 0; i < 10; i++) {
      await ttftDirect(-i);
      await ttftGateway(-i - 1000);
    }
    for (let i = 0; i < N_TTFT; i++) {
      // Interleave so both see the same machine conditions.
      direct.push(await ttftDirect(i));
      viaGw.push(await ttftGateway(i));
    }
    const addedP50 = pct(viaGw, 50) - pct(direct, 50);
    const addedP99 = pct(viaGw, 99) - pct(direct, 99);
    log(`## TTFT (n=${N_TTFT}, sequential, model ${MODEL_FAST})`);
    log(`direct AI server : p50 ${f(pct(direct, 50))} ms  p99 ${f(pct(direct, 99))} ms`);
    log(`via gateway      : p50 ${f(pct(viaGw, 50))} ms  p99 ${f(pct(viaGw, 99))} ms`);
    log(
      `added by gateway : p50 ${f(addedP50)} ms  p99 ${f(addedP99)} ms  (target p50 ≤ 2 ms)  ratio p50 ${f(pct(viaGw, 50) / pct(direct, 50))}x`,
    );

    // ---- 2. throughput ----------------------------------------------------------------------
    const terminal = new Map<string, string>();
    let deltas = 0;
    const clientsN = Math.min(20, CONCURRENCY);
    const conns = await Promise.all(
      Array.from({ length: clientsN }, () =>
        wsClient(wsUrl, (e) => {
          if (e.event !== "chat") return;
          const st = e.payload.state as string;
          if (st === "delta") deltas++;
          else terminal.set(e.payload.runId as string, st);
        }),
      ),
    );
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, (_, i) =>
        (conns[i % clientsN] as Awaited<ReturnType<typeof wsClient>>).call("chat.send", {
          sessionKey: `tp-${i}`,
          message: `throughput ${i}`,
          idempotencyKey: `tp-${i}`,
        }),
      ),
    );
    // Each of the clientsN connections receives every broadcast event, so count terminal runIds.
    await waitFor(() => terminal.size >= CONCURRENCY, { timeoutMs: 120_000, what: "all runs terminal" });
    const elapsed = (performance.now() - t0) / 1000;
    const states = [...terminal.values()].reduce<Record<string, number>>((a, s) => {
      a[s] = (a[s] ?? 0) + 1;
      return a;
    }, {});
    log(
      `## Throughput (${CONCURRENCY} concurrent streaming chats, ${clientsN} connections, each sees every event)`,
    );
    log(
      `all terminal in ${f(elapsed)} s → ${f(CONCURRENCY / elapsed)} chats/s; outcomes ${JSON.stringify(states)}; delta frames received ${deltas}`,
    );
    for (const k of conns) k.ws.close();
    c.ws.close();

    // ---- 3. idle connection memory -----------------------------------------------------------
    // A fresh gateway process, so nothing of the phases above is still being collected.
    const mem = await gatewayProc(memDir.path);
    gwMem = mem.proc;
    await waitFor(() => ok(`http://127.0.0.1:${mem.port}/healthz`), { timeoutMs: 30_000, what: "gateway 2" });
    const memUrl = `ws://127.0.0.1:${mem.port}`;
    const idle: WebSocket[] = [];
    // Warm-up: the code paths of a connection (and their JIT) are loaded before the baseline.
    for (const k of await Promise.all(Array.from({ length: 20 }, () => wsClient(memUrl, () => {})))) {
      idle.push(k.ws);
    }
    const settled = async (pid: number) => {
      // Measurement pacing, not synchronisation: give the gateway's GC a moment, take the last value.
      let v = rssKb(pid);
      for (let i = 0; i < 5; i++) {
        await Bun.sleep(300);
        v = rssKb(pid);
      }
      return v;
    };
    const before = await settled(mem.proc.proc.pid);
    for (let b = 0; b < IDLE; b += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, IDLE - b) }, () => wsClient(memUrl, () => {})),
      );
      for (const k of batch) idle.push(k.ws);
    }
    const after = await settled(mem.proc.proc.pid);
    const perConn = ((after - before) * 1024) / IDLE;
    log(`## Memory (${IDLE} idle authenticated connections, fresh gateway process, after 20 warm-up ones)`);
    log(
      `gateway RSS before ${before} kB, after ${after} kB → ${f(perConn / 1024)} KB per connection (target ≤ 20 KB)`,
    );
    for (const w of idle) w.close();

    log(`## Machine: ${cpus().length} cores, ${cpus()[0]?.model ?? "unknown CPU"}, Bun ${Bun.version}`);
  } finally {
    gw.kill("SIGTERM");
    gwMem?.kill("SIGTERM");
    ai.kill("SIGTERM");
    await Promise.all([gw.exited, ai.exited, gwMem?.exited]);
    await sim.stop();
    dir.cleanup();
    memDir.cleanup();
  }
  return out;
}

await main();
process.exit(0);
