/**
 * What the AI server benches share about a server process's cost: its CPU time read from
 * /proc/<pid>/stat (Linux), and the bare Bun pass-through server (`bun -e PASS_THROUGH`, PORT and
 * UPSTREAM in its env) that is the floor one extra loopback HTTP hop costs.
 */
import { readFileSync } from "node:fs";

/** utime + stime of a process so far, in µs (100 Hz ticks); throws where /proc/<pid>/stat is missing. */
export function processCpuUs(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** A bare pass-through: what one extra Bun HTTP hop costs, for scale. */
export const PASS_THROUGH = `
const up = process.env.UPSTREAM;
Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), async fetch(req) {
  const u = new URL(req.url);
  if (u.pathname === "/healthz") return new Response("ok");
  const h = new Headers(req.headers); h.delete("host");
  const r = await fetch(up + u.pathname + u.search, { method: req.method, headers: h, body: await req.arrayBuffer() });
  return new Response(r.body, { status: r.status, headers: r.headers });
}});`;
