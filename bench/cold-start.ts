/**
 * Cold start of the whole runtime: `pipbot start` → gateway /healthz answers 200, and the idle
 * resident memory of all processes together (supervisor + ai + sync + gateway).
 *
 * Baselines measured in the same run: `bun -e ''` (process start and exit) and a bare `Bun.serve`
 * hello server (spawn → first 200). The AI server runs in direct mode against the upstream
 * simulator (started in this process), sync disabled, everything on loopback with a temp DATA_DIR.
 *
 *   bun bench/cold-start.ts [--runs 5] [--settle-ms 3000]
 * Targets: ready < 1 s; idle RSS of all processes < 150 MB.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startUpstreamSim } from "../src/dev/upstream-sim.ts";

const ROOT = resolve(import.meta.dir, "..");
const CLI = join(ROOT, "src", "cli.ts");
const { values: args } = parseArgs({
  args: Bun.argv.slice(2),
  options: { runs: { type: "string" }, "settle-ms": { type: "string" } },
});
const RUNS = Number(args.runs ?? 5);
const SETTLE_MS = Number(args["settle-ms"] ?? 3000);

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

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};
const ms = (x: number) => `${x.toFixed(0)} ms`;
const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;

async function until200(url: string, deadlineMs: number): Promise<boolean> {
  const end = performance.now() + deadlineMs;
  while (performance.now() < end) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(500) });
      if (r.status === 200) return true;
    } catch {
      // not up yet
    }
    await Bun.sleep(5);
  }
  return false;
}

interface TreeRss {
  totalKb: number;
  procs: { pid: number; name: string; kb: number }[];
}

/** VmRSS (kB) of `pid` and all its descendants. */
function treeRss(root: number): TreeRss {
  const info = new Map<number, { ppid: number; name: string }>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      info.set(Number(d), { ppid, name: stat.slice(stat.indexOf("(") + 1, close) });
    } catch {
      // gone
    }
  }
  const tree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, i] of info) {
      if (tree.has(pid) || !tree.has(i.ppid)) continue;
      tree.add(pid);
      grew = true;
    }
  }
  const procs = [...tree].map((pid) => {
    let kb = 0;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      kb = Number(m?.[1] ?? 0);
    } catch {}
    let cmd = info.get(pid)?.name ?? "?";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(-1)[0] ?? cmd;
    } catch {}
    return { pid, name: cmd, kb };
  });
  return { totalKb: procs.reduce((a, p) => a + p.kb, 0), procs };
}

async function bunStart(): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn(["bun", "-e", ""], { stdio: ["ignore", "ignore", "ignore"] });
  await p.exited;
  return performance.now() - t0;
}

async function bareServe(): Promise<{ readyMs: number; rssKb: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const script = `Bun.serve({ hostname: "127.0.0.1", port: ${port}, fetch: () => new Response("ok") })`;
  const p = Bun.spawn(["bun", "-e", script], { stdio: ["ignore", "ignore", "ignore"] });
  const ok = await until200(`http://127.0.0.1:${port}/`, 10_000);
  const readyMs = performance.now() - t0;
  const rssKb = treeRss(p.pid).totalKb;
  p.kill("SIGKILL");
  await p.exited;
  if (!ok) throw new Error("bare Bun.serve never answered");
  return { readyMs, rssKb };
}

async function pipbotStart(simUrl: string, measureRss: boolean) {
  const data = mkdtempSync(join(tmpdir(), "pipbot-bench-"));
  const ports = {
    AI_PORT: await freePort(),
    SYNC_STATUS_PORT: await freePort(),
    GATEWAY_PORT: await freePort(),
  };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    PIPBOT_SUPERVISED: "1",
    LOG_LEVEL: "warn",
    DATA_DIR: data,
    AI_PORT: String(ports.AI_PORT),
    AI_URL: `http://127.0.0.1:${ports.AI_PORT}`,
    SYNC_STATUS_PORT: String(ports.SYNC_STATUS_PORT),
    GATEWAY_PORT: String(ports.GATEWAY_PORT),
    CLAWDBOT_GATEWAY_TOKEN: "bench-gateway-token-0123",
    ANTHROPIC_BASE_URL: simUrl,
    ANTHROPIC_API_KEY: "sim",
    AI_DEFAULT_MODEL: "anthropic/simulator",
    PIPBOT_SIMULATOR: "1",
  };
  const t0 = performance.now();
  const sup = Bun.spawn(["bun", CLI, "start"], { cwd: ROOT, env, stdio: ["ignore", "ignore", "ignore"] });
  const ok = await until200(`http://127.0.0.1:${ports.GATEWAY_PORT}/healthz`, 60_000);
  const readyMs = performance.now() - t0;
  let rss: TreeRss | null = null;
  if (ok && measureRss) {
    await Bun.sleep(SETTLE_MS); // let the runtime settle before reading idle memory
    Bun.gc(true);
    rss = treeRss(sup.pid);
  }
  const s0 = performance.now();
  sup.kill("SIGTERM");
  const code = await sup.exited;
  const stopMs = performance.now() - s0;
  rmSync(data, { recursive: true, force: true });
  if (!ok) throw new Error("pipbot start: gateway never became ready");
  return { readyMs, rss, stopMs, code };
}

const sim = await startUpstreamSim();
try {
  const cpu = cpus()[0]?.model ?? "unknown";
  console.log(`machine: ${cpus().length} cores, ${cpu}, Bun ${Bun.version}; runs: ${RUNS}`);
  const base: number[] = [];
  const serve: { readyMs: number; rssKb: number }[] = [];
  const runs: Awaited<ReturnType<typeof pipbotStart>>[] = [];
  for (let i = 0; i < RUNS; i++) {
    base.push(await bunStart());
    serve.push(await bareServe());
    runs.push(await pipbotStart(sim.url, i === RUNS - 1));
  }
  const ready = runs.map((r) => r.readyMs);
  const serveReady = serve.map((s) => s.readyMs);
  const rows = [
    ["`bun -e ''` (start + exit)", pct(base, 50), pct(base, 90)],
    ["bare `Bun.serve` → first 200", pct(serveReady, 50), pct(serveReady, 90)],
    ["`pipbot start` → gateway /healthz 200", pct(ready, 50), pct(ready, 90)],
  ] as const;
  console.log("\n| measure | p50 | p90 |\n|---|---|---|");
  for (const [name, p50, p90] of rows) console.log(`| ${name} | ${ms(p50)} | ${ms(p90)} |`);
  const vsServe = (pct(ready, 50) / pct(serveReady, 50)).toFixed(1);
  const vsBun = (pct(ready, 50) / pct(base, 50)).toFixed(1);
  console.log(`\nratio pipbot ready / bare Bun.serve (p50): ${vsServe}×; / bun -e '' (p50): ${vsBun}×`);
  const stops = runs.map((r) => r.stopMs);
  const codes = runs.map((r) => r.code).join(",");
  console.log(
    `SIGTERM → supervisor exit: p50 ${ms(pct(stops, 50))}, p90 ${ms(pct(stops, 90))}; codes ${codes}`,
  );
  const rss = runs.at(-1)?.rss;
  if (rss) {
    const serveRssAll = serve.map((s) => s.rssKb);
    const serveRss = pct(serveRssAll, 50);
    const n = rss.procs.length;
    console.log(`\nidle RSS after ${SETTLE_MS} ms (sum over ${n} processes): ${mb(rss.totalKb)}`);
    for (const p of rss.procs) console.log(`  pid ${p.pid} ${p.name.padEnd(10)} ${mb(p.kb)}`);
    const ratio = (rss.totalKb / serveRss).toFixed(1);
    console.log(`baseline: one bare Bun.serve process ${mb(serveRss)}; ratio ${ratio}×`);
    const readyMet = pct(ready, 50) < 1000 ? "MET" : "MISSED";
    const rssMet = rss.totalKb / 1024 < 150 ? "MET" : "MISSED";
    console.log(`targets: ready < 1000 ms (p50): ${readyMet}; idle RSS < 150 MB: ${rssMet}`);
  }
} finally {
  await sim.stop();
}
