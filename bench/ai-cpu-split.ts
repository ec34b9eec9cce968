/**
 * Where the AI server's CPU per request goes: the pieces of a plain-text json (non-stream)
 * /v1/chat/completions request measured in ONE process (process.cpuUsage around N sequential
 * calls), against the same upstream simulator (a separate process), so each layer's cost is the
 * difference between two rows. The rows follow the hot path of a json caller today: its attempt
 * is ONE non-stream upstream request (`ProviderAdapter.complete`), sent as a request the `openai`
 * SDK prepared once (`stainlessPost` in src/ai-server/providers/sdk-adapter.ts):
 *
 *   fetch            Bun's fetch client (untimed, as the adapters use it) sending the upstream body
 *                    (`stream: false`) and parsing the simulator's JSON answer: the floor of any gateway
 *   openai SDK       the same request as the SDK's prepared POST (`stainlessPost`: the request built
 *                    once by the SDK, per call the headers merged, one JSON.stringify, one fetch)
 *   app bare         createApp().fetch(Request) — no HTTP server in front — without log or store
 *   app + log        … with the wide log line (pino + redaction, to a null destination)
 *   app + log + row  … and the usage row, queued and written in batches (usage-writer.ts: what
 *                    `pipbot ai` does per request; the last partial batch of a cell is written by
 *                    its timer after the cell, a bias of under 64 rows in N)
 *
 * Rows are the median of R interleaved rounds (the machine is shared: read differences of one run).
 * Run: `bun bench/ai-cpu-split.ts [--n 2000] [--rounds 3]` — complements bench/ai-overhead-cpu.ts,
 * which measures whole server processes (HTTP in and out included) against Portkey.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { type AppSettings, createApp } from "../src/ai-server/app.ts";
import { createProviderRegistry, untimedFetch } from "../src/ai-server/providers/index.ts";
import { stainlessOptions, stainlessPost } from "../src/ai-server/providers/sdk-adapter.ts";
import { createLogger } from "../src/shared/log.ts";
import { openStore } from "../src/shared/store/index.ts";
import { BASE_SETTINGS } from "../test/ai-server/harness.ts";

const args = process.argv.slice(2);
const arg = (name: string, d: number) => Number(args[args.indexOf(name) + 1] || d) || d;
const N = arg("--n", 2000);
const ROUNDS = arg("--rounds", 3);
const WARMUP = 300;

/** The AI server tests' settings (test/ai-server/harness.ts), on the OpenAI wire like the other benches. */
const SETTINGS: AppSettings = { ...BASE_SETTINGS, defaultModel: "openai/sim" };

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function perCall(f: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await f();
  const c0 = cpuUs();
  for (let i = 0; i < N; i++) await f();
  return (cpuUs() - c0) / N;
}

// The simulator is a separate process: its CPU must not count.
const simProc = Bun.spawn(
  ["bun", join(import.meta.dir, "..", "src", "cli.ts"), "dev", "upstream-sim", "--port", "0"],
  {
    stdout: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" },
  },
);
const dir = mkdtempSync(join(tmpdir(), "pipbot-cpu-split-"));
try {
  const simUrl = await simulatorUrl(simProc);
  const question = [{ role: "user" as const, content: "benchmark request" }];
  // What `complete` sends for this caller (openaiParams(call, false)): a non-stream request.
  const upstream = { model: "sim", messages: question, stream: false };
  const sdk = new OpenAI(
    stainlessOptions({ apiKey: "sim", baseURL: `${simUrl}/v1`, fetch: untimedFetch, defaultHeaders: {} }),
  );
  const postWhole = stainlessPost(sdk, "/chat/completions", untimedFetch, false);
  const call = { headers: {}, signal: new AbortController().signal };
  const nullDest = { write: (_: string) => {} };
  const app = (log: boolean, store: boolean) =>
    createApp({
      settings: SETTINGS,
      registry: createProviderRegistry({ keys: { openai: "sim" }, baseUrls: { openai: `${simUrl}/v1` } }),
      store: store ? openStore(dir) : null,
      logger: createLogger({ proc: "ai", level: log ? "info" : "silent", destination: nullDest }),
      simulator: true,
    });
  const callerBody = JSON.stringify({ model: "openai/sim", messages: question });
  const viaApp = (a: ReturnType<typeof app>) => async () => {
    const res = await a.fetch(
      new Request("http://ai/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: callerBody,
      }),
    );
    const text = await res.text();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    // The usage row and the log line run in a setImmediate after the reply: count them too.
    await new Promise((r) => setImmediate(r));
  };
  const rows: [string, () => Promise<unknown>][] = [
    [
      "fetch (Bun client, one non-stream upstream request)",
      () =>
        untimedFetch(`${simUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer sim" },
          body: JSON.stringify(upstream),
          signal: call.signal,
        }).then((r) => r.json()),
    ],
    [
      "openai SDK's prepared request (stainlessPost, same request)",
      () => postWhole(upstream, call).then((r) => r.json()),
    ],
    ["app bare (json caller)", viaApp(app(false, false))],
    ["app + log line", viaApp(app(true, false))],
    ["app + log line + usage row", viaApp(app(true, true))],
  ];
  const results = rows.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++)
    for (const [i, [, f]] of rows.entries()) results[i]?.push(await perCall(f));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const lines = [
    `n=${N} per cell after ${WARMUP} warm-up, ${ROUNDS} interleaved rounds, Bun ${Bun.version}`,
    "",
    "| piece (CPU µs/request, this process) | median | rounds |",
    "|---|---|---|",
    ...rows.map(
      ([name], i) =>
        `| ${name} | **${median(results[i] ?? []).toFixed(0)}** | ${(results[i] ?? []).map((x) => x.toFixed(0)).join(" / ")} |`,
    ),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
} finally {
  simProc.kill("SIGTERM");
  await simProc.exited;
  rmSync(dir, { recursive: true, force: true });
}

/** The simulator prints its URL on its first line: wait for it (with a deadline). */
async function simulatorUrl(p: Bun.Subprocess<"ignore", "pipe">): Promise<string> {
  const reader = p.stdout.getReader();
  const deadline = Date.now() + 30_000;
  let seen = "";
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += new TextDecoder().decode(value);
    const m = seen.match(/http:\/\/127\.0\.0\.1:\d+/);
    if (m) {
      reader.releaseLock();
      return m[0];
    }
  }
  throw new Error(`the simulator did not print its URL: ${seen.slice(0, 200)}`);
}
