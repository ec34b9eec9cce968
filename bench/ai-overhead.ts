/**
 * What the AI server adds on top of a direct SDK call, measured in the same run on loopback.
 *
 *   baseline: the `openai` SDK → upstream simulator (OpenAI wire)
 *   through:  the same SDK → AI server /v1/chat/completions → (its openai SDK) → the simulator
 *
 *   reference: the same SDK → a bare Bun.serve + fetch pass-through → the simulator (the cost of
 *   one extra loopback HTTP hop on this machine, nothing else)
 *
 * The simulator, the AI server and the pass-through run as real child processes
 * (`pipbot dev upstream-sim`, `pipbot ai` with LOG_LEVEL=info — one wide log line and one SQLite
 * usage row per request), the client here. Series are interleaved request by request so drift
 * hits every side alike. Reports added latency p50/p99 (non-stream), added time to first token
 * p50/p99 (stream) and requests/s at concurrency 1 and 32.
 * Run: `bun bench/ai-overhead.ts [--n 300] [--seconds 3]`.
 */

import { existsSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import OpenAI from "openai";
import { PASS_THROUGH, processCpuUs } from "./server-cpu.ts";

const ROOT = resolve(import.meta.dir, "..");
const CLI = join(ROOT, "src", "cli.ts");
const args = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const N = arg("n", 300);
const SECONDS = arg("seconds", 3);

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      const port = typeof a === "object" && a ? a.port : 0;
      srv.close(() => res(port));
    });
  });
}

async function waitHealthy(url: string, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${what} did not become healthy`);
    await Bun.sleep(20);
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const f = (x: number) => x.toFixed(3);

/** CPU time (ms, all threads) a process has used so far; Linux /proc only, else NaN. */
function cpuMs(pid: number): number {
  return existsSync(`/proc/${pid}/stat`) ? processCpuUs(pid) / 1000 : Number.NaN;
}

async function main() {
  const simPort = await freePort();
  const aiPort = await freePort();
  const passPort = await freePort();
  const simUrl = `http://127.0.0.1:${simPort}`;
  const aiUrl = `http://127.0.0.1:${aiPort}`;
  const passUrl = `http://127.0.0.1:${passPort}`;
  const baseEnv = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    PIPBOT_SUPERVISED: "1",
  };
  const dataDir = mkdtempSync(join(tmpdir(), "pipbot-bench-ai-"));
  const sim = Bun.spawn(["bun", CLI, "dev", "upstream-sim", "--port", String(simPort)], {
    env: baseEnv,
    stdout: "ignore",
    stderr: "inherit",
  });
  const ai = Bun.spawn(["bun", CLI, "ai"], {
    env: {
      ...baseEnv,
      LOG_LEVEL: "info",
      DATA_DIR: dataDir,
      AI_PORT: String(aiPort),
      OPENAI_API_KEY: "sim",
      OPENAI_BASE_URL: `${simUrl}/v1`,
      AI_DEFAULT_MODEL: "openai/sim",
      PIPBOT_SIMULATOR: "1",
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  const pass = Bun.spawn(["bun", "-e", PASS_THROUGH], {
    env: { ...baseEnv, PORT: String(passPort), UPSTREAM: simUrl },
    stdout: "ignore",
    stderr: "inherit",
  });
  try {
    await waitHealthy(`${simUrl}/healthz`, "simulator");
    await waitHealthy(`${aiUrl}/healthz`, "AI server");
    await waitHealthy(`${passUrl}/healthz`, "pass-through");
    const direct = new OpenAI({ apiKey: "sim", baseURL: `${simUrl}/v1`, maxRetries: 0 });
    const through = new OpenAI({ apiKey: "sim", baseURL: `${aiUrl}/v1`, maxRetries: 0 });
    const bare = new OpenAI({ apiKey: "sim", baseURL: `${passUrl}/v1`, maxRetries: 0 });
    const msg = [{ role: "user" as const, content: "benchmark" }];

    const nonStream = async (c: OpenAI, model: string) => {
      const t0 = performance.now();
      await c.chat.completions.create({ model, messages: msg });
      return performance.now() - t0;
    };
    const ttft = async (c: OpenAI, model: string) => {
      const t0 = performance.now();
      let first = 0;
      for await (const ch of await c.chat.completions.create({
        model,
        messages: msg,
        stream: true,
        stream_options: { include_usage: true },
      }))
        if (!first && ch.choices[0]?.delta.content) first = performance.now() - t0;
      return first;
    };

    // warm-up (JIT, keep-alive pools, SQLite)
    for (let i = 0; i < 100; i++) {
      await nonStream(direct, "sim");
      await nonStream(through, "openai/sim");
      await nonStream(bare, "sim");
      await ttft(direct, "sim");
      await ttft(through, "openai/sim");
      await ttft(bare, "sim");
    }

    const d: number[] = [];
    const t: number[] = [];
    const b: number[] = [];
    const ds: number[] = [];
    const ts: number[] = [];
    const bs: number[] = [];
    const cpu0 = { ai: cpuMs(ai.pid), pass: cpuMs(pass.pid) };
    for (let i = 0; i < N; i++) {
      // interleaved so drift affects every side alike
      d.push(await nonStream(direct, "sim"));
      t.push(await nonStream(through, "openai/sim"));
      b.push(await nonStream(bare, "sim"));
      ds.push(await ttft(direct, "sim"));
      ts.push(await ttft(through, "openai/sim"));
      bs.push(await ttft(bare, "sim"));
    }

    // CPU per request (one non-stream + one stream request per i), robust to other load on the box.
    const cpuPerReq = {
      ai: ((cpuMs(ai.pid) - cpu0.ai) * 1000) / (2 * N),
      pass: ((cpuMs(pass.pid) - cpu0.pass) * 1000) / (2 * N),
    };
    const rps = async (c: OpenAI, model: string, concurrency: number) => {
      let count = 0;
      const end = performance.now() + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < end) {
            await c.chat.completions.create({ model, messages: msg });
            count++;
          }
        }),
      );
      return count / SECONDS;
    };
    const r1d = await rps(direct, "sim", 1);
    const r1t = await rps(through, "openai/sim", 1);
    const r32d = await rps(direct, "sim", 32);
    const r32t = await rps(through, "openai/sim", 32);

    const cpu = cpus()[0]?.model ?? "unknown";
    const row = (name: string, base: number[], ai: number[], ref: number[], p: number) =>
      `| ${name} p${p} (ms) | ${f(pct(base, p))} | ${f(pct(ai, p))} | **${f(pct(ai, p) - pct(base, p))}** | ${f(pct(ref, p) - pct(base, p))} |`;
    const lines = [
      `machine: ${cpus().length} cores, ${cpu}, Bun ${Bun.version}; n=${N} per series, ${SECONDS}s per throughput run`,
      "",
      "| measure | direct (SDK → sim) | through AI server | added by AI server | added by a bare pass-through |",
      "|---|---|---|---|---|",
      row("non-stream latency", d, t, b, 50),
      row("non-stream latency", d, t, b, 99),
      row("stream TTFT", ds, ts, bs, 50),
      row("stream TTFT", ds, ts, bs, 99),
      "",
      `CPU per request (mean of the non-stream and stream series, all threads): AI server ${cpuPerReq.ai.toFixed(0)} µs, bare pass-through ${cpuPerReq.pass.toFixed(0)} µs`,
      "",
      "| throughput (non-stream) | direct (SDK → sim) | through AI server | ratio |",
      "|---|---|---|---|",
      `| requests/s, concurrency 1 | ${r1d.toFixed(0)} | ${r1t.toFixed(0)} | ${(r1t / r1d).toFixed(2)} |`,
      `| requests/s, concurrency 32 | ${r32d.toFixed(0)} | ${r32t.toFixed(0)} | ${(r32t / r32d).toFixed(2)} |`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    sim.kill("SIGTERM");
    ai.kill("SIGTERM");
    pass.kill("SIGTERM");
    await Promise.all([sim.exited, ai.exited, pass.exited]);
    await Bun.$`rm -rf ${dataDir}`.quiet().nothrow();
  }
}

await main();
