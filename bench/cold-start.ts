/**
 * Cold start of the whole runtime: `pipbot start` → gateway /healthz answers 200, and the idle
 * memory of all processes together (supervisor + ai + sync + gateway).
 *
 * Baselines measured in the same run, interleaved with the pipbot runs so that load from other
 * jobs on the machine hits each measure alike: `bun -e ''` (process start and exit), one bare
 * `Bun.serve` hello server (spawn → first 200), and for memory four bare `Bun.serve` processes at
 * once (the floor for four Bun processes). The AI server runs in direct mode against the upstream
 * simulator (started in this process), sync disabled, everything on loopback with a temp DATA_DIR.
 *
 * Memory is reported three ways: the sum of PSS (smaps_rollup; shared pages split among every
 * process that maps them, this script's own Bun included, so it slightly understates), the sum
 * of VmRSS (counts the pages of the bun executable that the four processes share once per
 * process, so it overstates), and the unique resident memory: the
 * distinct physical pages mapped by any of the processes, from /proc/<pid>/pagemap (each shared
 * page counted once: what the runtime really holds; reading page frame numbers needs root, without
 * it the script says so and prints the RSS sum only). The target is judged on the unique figure.
 *
 *   bun bench/cold-start.ts [--runs 5] [--settle-ms 3000] [--max-seconds 120]
 * Bounded: at most --runs rounds (capped at 20), and no new round after --max-seconds.
 * Targets: ready < 1 s (p50); idle memory of all processes < 150 MB.
 */
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startUpstreamSim } from "../src/dev/upstream-sim.ts";
import { freePort } from "../test/helpers/index.ts";

const ROOT = resolve(import.meta.dir, "..");
const CLI = join(ROOT, "src", "cli.ts");
const { values: args } = parseArgs({
  args: Bun.argv.slice(2),
  options: { runs: { type: "string" }, "settle-ms": { type: "string" }, "max-seconds": { type: "string" } },
});
const RUNS = Math.min(20, Math.max(1, Number(args.runs ?? 5)));
const SETTLE_MS = Number(args["settle-ms"] ?? 3000);
const MAX_MS = Number(args["max-seconds"] ?? 120) * 1000;

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

interface TreeMem {
  rssKb: number;
  /** Sum of PSS (smaps_rollup): each shared page split among the processes that map it. */
  pssKb: number;
  /** Distinct physical pages of all the processes, in kB; null without access to page frames. */
  uniqueKb: number | null;
  procs: { pid: number; name: string; rssKb: number; pssKb: number; uniqueKb: number | null }[];
}

/** Proportional set size of `pid` in kB (what `smem` reports); 0 when the process is gone. */
function pssOf(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function rssOf(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Add the page frame numbers of `pid`'s resident pages to `pfns` (only mappings with Rss > 0 are
 * read). Returns false when frame numbers are hidden (not root: the kernel reports them as 0).
 */
function addFrames(pid: number, pfns: Set<bigint>): boolean {
  const smaps = readFileSync(`/proc/${pid}/smaps`, "utf8");
  const fd = openSync(`/proc/${pid}/pagemap`, "r");
  const CHUNK = 1 << 16;
  const buf = Buffer.alloc(CHUNK * 8);
  let present = 0;
  const before = pfns.size;
  try {
    let range: [bigint, bigint] | null = null;
    for (const line of smaps.split("\n")) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
      if (m) {
        range = [BigInt(`0x${m[1]}`) / 4096n, BigInt(`0x${m[2]}`) / 4096n];
        continue;
      }
      if (!range || !line.startsWith("Rss:")) continue;
      if (!/^Rss:\s+0 kB/.test(line)) {
        const pages = Number(range[1] - range[0]);
        for (let i = 0; i < pages; i += CHUNK) {
          const n = Math.min(CHUNK, pages - i);
          const got = readSync(fd, buf, 0, n * 8, Number((range[0] + BigInt(i)) * 8n));
          for (let j = 0; j < got / 8; j++) {
            const e = buf.readBigUInt64LE(j * 8);
            if (!(e & (1n << 63n))) continue; // not present
            present++;
            const pfn = e & ((1n << 55n) - 1n);
            if (pfn !== 0n) pfns.add(pfn);
          }
        }
      }
      range = null;
    }
  } finally {
    closeSync(fd);
  }
  return present === 0 || pfns.size > before;
}

/** Memory of each `pid` and all its descendants. */
function treeMem(roots: number[]): TreeMem {
  const ppid = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      ppid.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone
    }
  }
  const tree = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, parent] of ppid)
      if (!tree.has(pid) && tree.has(parent)) {
        tree.add(pid);
        grew = true;
      }
  }
  const all = new Set<bigint>();
  let frames = true;
  const procs = [...tree].map((pid) => {
    let name = "?";
    try {
      name = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(-1)[0] ?? name;
    } catch {}
    const own = new Set<bigint>();
    try {
      frames = addFrames(pid, own) && frames;
    } catch {
      frames = false;
    }
    for (const f of own) all.add(f);
    return { pid, name, rssKb: rssOf(pid), pssKb: pssOf(pid), uniqueKb: own.size * 4 };
  });
  return {
    rssKb: procs.reduce((a, p) => a + p.rssKb, 0),
    pssKb: procs.reduce((a, p) => a + p.pssKb, 0),
    uniqueKb: frames ? all.size * 4 : null,
    procs: procs.map((p) => ({ ...p, uniqueKb: frames ? p.uniqueKb : null })),
  };
}

async function bunStart(): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn(["bun", "-e", ""], { stdio: ["ignore", "ignore", "ignore"] });
  await p.exited;
  return performance.now() - t0;
}

/** `count` bare Bun.serve processes at once: time to the first one's 200, and (after the settle) their memory. */
async function bareServe(
  count: number,
  measureMem: boolean,
): Promise<{ readyMs: number; mem: TreeMem | null }> {
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const t0 = performance.now();
  const procs = ports.map((port) =>
    Bun.spawn(
      ["bun", "-e", `Bun.serve({ hostname: "127.0.0.1", port: ${port}, fetch: () => new Response("ok") })`],
      {
        stdio: ["ignore", "ignore", "ignore"],
      },
    ),
  );
  const ok = await until200(`http://127.0.0.1:${ports[0]}/`, 10_000);
  const readyMs = performance.now() - t0;
  let mem: TreeMem | null = null;
  if (ok && measureMem) {
    for (const port of ports.slice(1)) await until200(`http://127.0.0.1:${port}/`, 10_000);
    await Bun.sleep(SETTLE_MS);
    mem = treeMem(procs.map((p) => p.pid));
  }
  for (const p of procs) p.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  if (!ok) throw new Error("bare Bun.serve never answered");
  return { readyMs, mem };
}

async function pipbotStart(simUrl: string, measureMem: boolean) {
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
    LOG_LEVEL: "info",
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
  const sup = Bun.spawn(["bun", CLI, "start"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  const pump = (async () => {
    const dec = new TextDecoder();
    for await (const c of sup.stdout) out += dec.decode(c, { stream: true });
  })();
  const ok = await until200(`http://127.0.0.1:${ports.GATEWAY_PORT}/healthz`, 60_000);
  const readyMs = performance.now() - t0;
  // The supervisor logs all_ready once its own probe of the gateway passed (a few ms later).
  const end = performance.now() + 10_000;
  while (ok && !out.includes('"all_ready"') && performance.now() < end) await Bun.sleep(5);
  let mem: TreeMem | null = null;
  if (ok && measureMem) {
    await Bun.sleep(SETTLE_MS); // let the runtime settle before reading idle memory
    mem = treeMem([sup.pid]);
  }
  const s0 = performance.now();
  sup.kill("SIGTERM");
  const code = await sup.exited;
  const stopMs = performance.now() - s0;
  await pump;
  rmSync(data, { recursive: true, force: true });
  if (!ok) throw new Error("pipbot start: gateway never became ready");
  // Per child: spawn → its /healthz answered, as the supervisor logged it (child_ready.readyMs).
  const childReady: Record<string, number> = {};
  for (const line of out.split("\n")) {
    if (!line.includes('"child_ready"')) continue;
    const r = JSON.parse(line) as { child: string; readyMs?: number };
    if (typeof r.readyMs === "number") childReady[r.child] = r.readyMs;
  }
  return { readyMs, mem, stopMs, code, childReady };
}

const sim = await startUpstreamSim();
const started = performance.now();
try {
  const cpu = cpus()[0]?.model ?? "unknown";
  console.log(
    `machine: ${cpus().length} cores, ${cpu}, Bun ${Bun.version}; up to ${RUNS} rounds, ${MAX_MS / 1000} s`,
  );
  const base: number[] = [];
  const serve: number[] = [];
  const runs: Awaited<ReturnType<typeof pipbotStart>>[] = [];
  for (let i = 0; i < RUNS && (i === 0 || performance.now() - started < MAX_MS); i++) {
    base.push(await bunStart());
    serve.push((await bareServe(1, false)).readyMs);
    runs.push(await pipbotStart(sim.url, i === 0));
  }
  // Memory baseline after the rounds: four bare Bun.serve processes, same settle time.
  const floor = (await bareServe(4, true)).mem;

  const ready = runs.map((r) => r.readyMs);
  console.log(`\nrounds: ${runs.length}\n\n| measure | p50 | p90 |\n|---|---|---|`);
  const row = (name: string, xs: number[]) =>
    console.log(`| ${name} | ${ms(pct(xs, 50))} | ${ms(pct(xs, 90))} |`);
  row("`bun -e ''` (start + exit)", base);
  row("bare `Bun.serve` → first 200", serve);
  row("`pipbot start` → gateway /healthz 200", ready);
  for (const child of Object.keys(runs[0]?.childReady ?? {}))
    row(
      `  of which ${child}: spawn → ready`,
      runs.map((r) => r.childReady[child] ?? Number.NaN),
    );
  const vsServe = (pct(ready, 50) / pct(serve, 50)).toFixed(1);
  const vsBun = (pct(ready, 50) / pct(base, 50)).toFixed(1);
  console.log(`\nratio pipbot ready / bare Bun.serve (p50): ${vsServe}×; / bun -e '' (p50): ${vsBun}×`);
  const stops = runs.map((r) => r.stopMs);
  const codes = runs.map((r) => r.code).join(",");
  console.log(
    `SIGTERM → supervisor exit: p50 ${ms(pct(stops, 50))}, p90 ${ms(pct(stops, 90))}; codes ${codes}`,
  );

  const mem = runs[0]?.mem;
  if (mem && floor) {
    const u = (kb: number | null) => (kb === null ? "n/a (needs root)" : mb(kb));
    console.log(`\nidle memory after ${SETTLE_MS} ms, ${mem.procs.length} processes (first round):`);
    console.log("| process | RSS | PSS | its own resident pages |\n|---|---|---|---|");
    for (const p of mem.procs)
      console.log(`| ${p.name} (pid ${p.pid}) | ${mb(p.rssKb)} | ${mb(p.pssKb)} | ${u(p.uniqueKb)} |`);
    console.log(
      `| **all, shared pages once** | sum ${mb(mem.rssKb)} | sum ${mb(mem.pssKb)} | **${u(mem.uniqueKb)}** |`,
    );
    console.log(
      `| baseline: 4 bare Bun.serve | sum ${mb(floor.rssKb)} | sum ${mb(floor.pssKb)} | ${u(floor.uniqueKb)} |`,
    );
    const r = (a: number | null, b: number | null) => (a === null || !b ? "n/a" : `${(a / b).toFixed(2)}×`);
    console.log(
      `ratio pipbot / 4 bare Bun.serve: RSS sum ${r(mem.rssKb, floor.rssKb)}, unique ${r(mem.uniqueKb, floor.uniqueKb)}`,
    );
    const readyMet = pct(ready, 50) < 1000 ? "MET" : "MISSED";
    const judged = mem.uniqueKb ?? mem.rssKb;
    const memMet = judged / 1024 < 150 ? "MET" : "MISSED";
    console.log(
      `targets: ready < 1000 ms (p50): ${readyMet}; idle memory < 150 MB (${mem.uniqueKb === null ? "RSS sum" : "unique resident"}): ${memMet}`,
    );
  }
  console.log(`bench took ${((performance.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await sim.stop();
}
