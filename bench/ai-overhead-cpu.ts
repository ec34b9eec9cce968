/**
 * Server CPU per request: pipbot's AI server against a bare Bun pass-through (the floor) and
 * Portkey's open-source gateway (`@portkey-ai/gateway`, run on Bun too), all three in front of
 * the same upstream simulator (OpenAI wire). CPU is each server process's utime+stime from
 * /proc/<pid>/stat read around N sequential requests — it counts only the server's own work, so it
 * is stable on a shared, noisy machine where wall time is not.
 *
 * Cases: plain text (json and streamed) and a tool call (json and streamed: tools in, tool_calls
 * out — pipbot translates them into its canonical call and back).
 * Run: `bun bench/ai-overhead-cpu.ts [--n 5000] [--case "text, json"] [--warmup 300] [--concurrency 1]`
 * (Linux: /proc).
 * /proc counts CPU in ticks of 10 ms: the floor's ~100 µs × 5000 requests is 50 ticks.
 * PIPBOT_BENCH_BEFORE=<another checkout's src/cli.ts> adds that AI server as a fourth column
 * ("pipbot before") in the same run, so a change is measured against its parent under one load.
 */
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PASS_THROUGH, processCpuUs } from "./server-cpu.ts";

const ROOT = resolve(import.meta.dir, "..");
const SIM_CLI = join(ROOT, "src", "cli.ts");
/** PIPBOT_BENCH_CLI: another checkout's src/cli.ts for the AI server (compare two versions; same simulator). */
const CLI = process.env.PIPBOT_BENCH_CLI ?? SIM_CLI;
const PORTKEY = join(ROOT, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js");
const args = process.argv.slice(2);
const N = Number(args[args.indexOf("--n") + 1] || 5000) || 5000;
const ONLY = args.includes("--case") ? args[args.indexOf("--case") + 1] : undefined;
/** PIPBOT_BENCH_BEFORE: the AI server of another checkout, measured in the same run (a before/after). */
const BEFORE = process.env.PIPBOT_BENCH_BEFORE;
/** Requests per server and case before counting: JIT compilation (on its own threads) counts as CPU too. */
const WARMUP = Number(args[args.indexOf("--warmup") + 1] || 300) || 300;
/**
 * Clients sending at once (default 1: sequential, each request alone on an idle server — the
 * worst case per request, every upstream wait a context switch). With 8, a server's event loop
 * stays busy and its per-request cost falls (bench/RESULTS.md, round 5).
 */
const CONCURRENCY = args.includes("--concurrency")
  ? Math.max(1, Number(args[args.indexOf("--concurrency") + 1]) || 1)
  : 1;

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => res(typeof a === "object" && a ? a.port : 0));
    });
  });
}

async function waitUp(url: string, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${what} did not come up`);
    await Bun.sleep(50);
  }
}

const TOOLS = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather of a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
  },
];

interface Target {
  name: string;
  pid: number;
  url: string;
  headers: Record<string, string>;
  model: string;
}

async function request(t: Target, stream: boolean, tools: boolean): Promise<void> {
  const body: Record<string, unknown> = {
    model: t.model,
    messages: [{ role: "user", content: "benchmark request" }],
    stream,
  };
  if (tools) body.tools = TOOLS;
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer sim", ...t.headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${t.name}: HTTP ${res.status} ${text.slice(0, 200)}`);
  // (an older AI server under PIPBOT_BENCH_CLI may drop tools: its tool rows are then not comparable)
  if (tools && !process.env.PIPBOT_BENCH_CLI && !text.includes("get_weather"))
    throw new Error(`${t.name}: no tool call in ${text.slice(0, 200)}`);
}

/** `count` requests from CONCURRENCY clients at once (each sends its next when its last is answered). */
async function requests(t: Target, stream: boolean, tools: boolean, count: number): Promise<void> {
  const each = Math.ceil(count / CONCURRENCY);
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = 0; i < each; i++) await request(t, stream, tools);
    }),
  );
}

async function cpuPerRequest(t: Target, stream: boolean, tools: boolean): Promise<number> {
  await requests(t, stream, tools, WARMUP);
  const c0 = processCpuUs(t.pid);
  await requests(t, stream, tools, N);
  return (processCpuUs(t.pid) - c0) / (Math.ceil(N / CONCURRENCY) * CONCURRENCY);
}

async function main() {
  const [simPort, aiPort, passPort, pkPort, beforePort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const simUrl = `http://127.0.0.1:${simPort}`;
  const base = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    PIPBOT_SUPERVISED: "1",
  };
  const dataDir = mkdtempSync(join(tmpdir(), "pipbot-bench-cpu-"));
  const beforeDir = mkdtempSync(join(tmpdir(), "pipbot-bench-cpu-before-"));
  const aiServer = (cli: string, port: number, dir: string) =>
    Bun.spawn(["bun", cli, "ai"], {
      env: {
        ...base,
        LOG_LEVEL: "info",
        DATA_DIR: dir,
        AI_PORT: String(port),
        OPENAI_API_KEY: "sim",
        OPENAI_BASE_URL: `${simUrl}/v1`,
        AI_DEFAULT_MODEL: "openai/sim",
        PIPBOT_SIMULATOR: "1",
      },
      stdout: "ignore",
    });
  const procs = [
    Bun.spawn(["bun", SIM_CLI, "dev", "upstream-sim", "--port", String(simPort)], {
      env: base,
      stdout: "ignore",
    }),
    aiServer(CLI, aiPort, dataDir),
    Bun.spawn(["bun", "-e", PASS_THROUGH], {
      env: { ...base, PORT: String(passPort), UPSTREAM: simUrl },
      stdout: "ignore",
    }),
    // On Bun like the others (on Node 20, Portkey 1.15.2's streamed OpenAI replies fail: it appends
    // headers to undici's immutable response headers → HTTP 500).
    Bun.spawn(["bun", PORTKEY, `--port=${pkPort}`, "--headless"], {
      env: { ...base, NODE_ENV: "production" },
      stdout: "ignore",
      stderr: "inherit",
    }),
  ];
  const [, ai, pass, pk] = procs as [unknown, Bun.Subprocess, Bun.Subprocess, Bun.Subprocess];
  const before = BEFORE ? aiServer(BEFORE, beforePort, beforeDir) : undefined;
  if (before) procs.push(before);
  try {
    await waitUp(`${simUrl}/healthz`, "simulator");
    await waitUp(`http://127.0.0.1:${aiPort}/healthz`, "pipbot AI server");
    if (before) await waitUp(`http://127.0.0.1:${beforePort}/healthz`, "pipbot AI server (before)");
    await waitUp(`http://127.0.0.1:${passPort}/healthz`, "pass-through");
    await waitUp(`http://127.0.0.1:${pkPort}/`, "Portkey gateway");
    const targets: Target[] = [
      {
        name: "pass-through (floor)",
        pid: pass.pid,
        url: `http://127.0.0.1:${passPort}`,
        headers: {},
        model: "sim",
      },
      { name: "pipbot", pid: ai.pid, url: `http://127.0.0.1:${aiPort}`, headers: {}, model: "openai/sim" },
      ...(before
        ? [
            {
              name: "pipbot before",
              pid: before.pid,
              url: `http://127.0.0.1:${beforePort}`,
              headers: {},
              model: "openai/sim",
            },
          ]
        : []),
      {
        name: "Portkey gateway",
        pid: pk.pid,
        url: `http://127.0.0.1:${pkPort}`,
        headers: { "x-portkey-provider": "openai", "x-portkey-custom-host": `${simUrl}/v1` },
        model: "sim",
      },
    ];
    const cases = [
      { name: "text, json", stream: false, tools: false },
      { name: "text, streamed", stream: true, tools: false },
      { name: "tool call, json", stream: false, tools: true },
      { name: "tool call, streamed", stream: true, tools: true },
    ];
    const rows: string[] = [];
    for (const c of cases.filter((c) => ONLY === undefined || c.name === ONLY)) {
      const us: Record<string, number> = {};
      for (const t of targets) us[t.name] = await cpuPerRequest(t, c.stream, c.tools);
      const floor = us["pass-through (floor)"] ?? Number.NaN;
      const pip = us.pipbot ?? Number.NaN;
      const pkv = us["Portkey gateway"] ?? Number.NaN;
      const bef = us["pipbot before"];
      rows.push(
        `| ${c.name} | ${floor.toFixed(0)} | **${pip.toFixed(0)}** | ${pkv.toFixed(0)} | ${(pip / floor).toFixed(2)}× | ${(pip / pkv).toFixed(2)}× |${
          bef === undefined ? "" : ` ${bef.toFixed(0)} | ${(bef / pkv).toFixed(2)}× |`
        }`,
      );
    }
    const lines = [
      `machine: ${cpus().length} cores, ${cpus()[0]?.model ?? "?"}, Bun ${Bun.version}; n=${N} requests per cell (${CONCURRENCY === 1 ? "sequential" : `${CONCURRENCY} clients at once`}) after ${WARMUP} warm-up`,
      "",
      `| case (server CPU µs/request) | Bun pass-through (floor) | pipbot | Portkey gateway | pipbot ÷ floor | pipbot ÷ Portkey |${
        before ? " pipbot before | before ÷ Portkey |" : ""
      }`,
      `|---|---|---|---|---|---|${before ? "---|---|" : ""}`,
      ...rows,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await Promise.all(procs.map((p) => p.exited));
    await Bun.$`rm -rf ${dataDir} ${beforeDir}`.quiet().nothrow();
  }
}

await main();
