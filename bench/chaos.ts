#!/usr/bin/env bun
/**
 * The chaos suite, long version (issue 11): the same run as test/chaos/chaos.test.ts (see
 * test/chaos/chaos.ts for what it does and checks), for longer and with more clients; prints the
 * figures for bench/RESULTS.md and exits 1 on any violation.
 *   bun bench/chaos.ts [--duration-s 300] [--clients 8] [--seed N] [--kill-min-ms 1500]
 *                      [--kill-max-ms 5000] [--push-fail 0.25] [--json]
 */
import { parseArgs } from "node:util";
import { runChaos, summary } from "../test/chaos/chaos.ts";

const { values: a } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    "duration-s": { type: "string", default: "300" },
    clients: { type: "string", default: "8" },
    seed: { type: "string" },
    "kill-min-ms": { type: "string", default: "1500" },
    "kill-max-ms": { type: "string", default: "5000" },
    "push-fail": { type: "string", default: "0.25" },
    json: { type: "boolean", default: false },
  },
});

const seed = Number(a.seed ?? Math.floor(Math.random() * 2 ** 31));
const report = await runChaos({
  seed,
  durationMs: Number(a["duration-s"]) * 1000,
  clients: Number(a.clients),
  killMinMs: Number(a["kill-min-ms"]),
  killMaxMs: Number(a["kill-max-ms"]),
  pushFailShare: Number(a["push-fail"]),
  reconnectShare: 0.1,
});
process.stdout.write(`${a.json ? JSON.stringify(report, null, 2) : summary(report)}\n`);
process.exit(report.violations.length === 0 ? 0 : 1);
