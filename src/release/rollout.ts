/**
 * `pipbot release rollout …`: drives the fleet rollout of the Convex backend (convex/rollout.ts)
 * through its admin HTTP API (convex/admin.ts) with the deployment's ADMIN_TOKEN. Start a rollout
 * of an image ref, watch its progress, abort or resume it, and set the image new machines use.
 * Environment comes in from main.ts; this file only talks HTTP and prints.
 */
import { parseCommandArgs, UsageError } from "../shared/cli-args.ts";

export const ROLLOUT_USAGE = `usage: pipbot release rollout <image-ref> [--canary N] [--growth X] [--max-failure-rate R]
                              [--concurrency N] [--from IMAGE] [--wait] [--json]
       pipbot release rollout status [ROLLOUT_ID] [--wait] [--json]
       pipbot release rollout abort [ROLLOUT_ID]
       pipbot release rollout resume [ROLLOUT_ID]
       pipbot release rollout set-image <image-ref>

Moves every user machine (or those on --from IMAGE) to <image-ref> in waves: a canary, then
batches growing ×--growth, each machine updated in place (volume kept) and its checks awaited
before the next wave. A wave with more than floor(size × --max-failure-rate) failures is rolled
back to the previous image and the rollout stops. The image must exist in the registry (checked
by the backend first). set-image sets the image NEW machines are created from (also checked).

options:
  --canary N            machines in the first wave (default 1)
  --growth X            each wave is X times the previous (default 4)
  --max-failure-rate R  tolerated failures per wave, 0 ≤ R < 1 (default 0: any failure stops)
  --concurrency N       machines updated at once (default 10)
  --from IMAGE          only machines currently on IMAGE
  --wait                follow progress until the rollout ends (exit 1 unless completed)
  --json                print the backend's JSON answers

environment:
  PIPBOT_ADMIN_URL    the Convex HTTP-actions URL (https://<deployment>.convex.site); default
                      CONVEX_SITE_URL, or CONVEX_URL with .convex.cloud → .convex.site
  PIPBOT_ADMIN_TOKEN  the deployment's ADMIN_TOKEN (npx convex env get ADMIN_TOKEN)
  PIPBOT_ROLLOUT_POLL_MS  progress poll interval with --wait (default 2000)`;

const OPTIONS = {
  canary: { type: "string" },
  growth: { type: "string" },
  "max-failure-rate": { type: "string" },
  concurrency: { type: "string" },
  from: { type: "string" },
  wait: { type: "boolean" },
  json: { type: "boolean" },
} as const;

export interface RolloutIo {
  env: Record<string, string>;
  out(line: string): void;
  err(line: string): void;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

interface Status {
  id: string;
  imageRef: string;
  state: string;
  reason: string | null;
  currentWave: number;
  waves: number[];
  total: number;
  counts: Record<string, number>;
  failures: { machineId: string; state: string; error: string | null }[];
}

const SETTLED = new Set(["completed", "failed", "aborted"]);

function adminUrl(env: Record<string, string>): string {
  const url =
    env.PIPBOT_ADMIN_URL?.trim() ||
    env.CONVEX_SITE_URL?.trim() ||
    env.CONVEX_URL?.trim().replace(/\.convex\.cloud\/?$/, ".convex.site");
  if (!url) throw new UsageError("set PIPBOT_ADMIN_URL (the deployment's .convex.site URL)", ROLLOUT_USAGE);
  return url.replace(/\/+$/, "");
}

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, not "${v}"`, ROLLOUT_USAGE);
  return n;
}

export function progressLine(s: Status): string {
  const c = (k: string) => s.counts[k] ?? 0;
  const wave = s.waves.length
    ? `wave ${Math.min(s.currentWave + 1, s.waves.length)}/${s.waves.length}`
    : "no waves";
  const parts = [`updated ${c("updated")}/${s.total}`, `failed ${c("failed")}`];
  if (c("restored") || c("restore_failed"))
    parts.push(`restored ${c("restored")}`, `restore_failed ${c("restore_failed")}`);
  return `rollout ${s.id} → ${s.imageRef}: ${s.state}, ${wave}, ${parts.join(", ")}${s.reason ? ` — ${s.reason}` : ""}`;
}

export async function rolloutMain(argv: string[], io: RolloutIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, OPTIONS, ROLLOUT_USAGE, { positionals: 2 });
  const [first, second] = positionals;
  if (first === undefined) throw new UsageError("rollout needs an image ref or a subcommand", ROLLOUT_USAGE);
  const token = io.env.PIPBOT_ADMIN_TOKEN?.trim();
  if (!token) throw new UsageError("set PIPBOT_ADMIN_TOKEN (the deployment's ADMIN_TOKEN)", ROLLOUT_USAGE);
  const base = adminUrl(io.env);
  const doFetch = io.fetch ?? fetch;
  const sleep = io.sleep ?? ((ms: number) => Bun.sleep(ms));
  const call = async <T extends object = Record<string, unknown>>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
  ): Promise<T> => {
    let res: Response;
    try {
      res = await doFetch(`${base}/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw new Error(`cannot reach ${base}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: Partial<T> & { error?: unknown } = {};
    try {
      json = JSON.parse(text);
    } catch {
      /* reported below */
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${String(json.error ?? text.slice(0, 200))}`);
    return json as T;
  };
  const print = (json: unknown, line: string) => io.out(values.json ? JSON.stringify(json) : line);
  const follow = async (id: string): Promise<number> => {
    let last = "";
    const poll = Number(io.env.PIPBOT_ROLLOUT_POLL_MS) > 0 ? Number(io.env.PIPBOT_ROLLOUT_POLL_MS) : 2000;
    for (;;) {
      const s = await call<Status>("GET", `/rollouts/status?id=${encodeURIComponent(id)}`);
      const line = progressLine(s);
      if (line !== last) print(s, line);
      last = line;
      if (SETTLED.has(s.state)) {
        for (const f of s.failures) io.err(`  ${f.machineId} ${f.state}: ${f.error ?? "?"}`);
        return s.state === "completed" ? 0 : 1;
      }
      await sleep(poll);
    }
  };

  try {
    if (first === "status") {
      const s = await call<Status>(
        "GET",
        `/rollouts/status${second ? `?id=${encodeURIComponent(second)}` : ""}`,
      );
      if (values.wait && !SETTLED.has(s.state)) return await follow(s.id);
      print(s, progressLine(s));
      return 0;
    }
    if (first === "abort" || first === "resume") {
      const r = await call("POST", `/rollouts/${first}`, second ? { id: second } : {});
      print(r, `${first === "abort" ? "aborted" : "resumed"} rollout ${String(r.aborted ?? r.resumed)}`);
      return 0;
    }
    if (first === "set-image") {
      if (!second) throw new UsageError("set-image needs an image ref", ROLLOUT_USAGE);
      const r = await call("POST", "/image", { imageRef: second });
      print(r, `new machines now use ${String(r.imageRef)} (${String(r.digest)})`);
      return 0;
    }
    if (second !== undefined) throw new UsageError(`unexpected argument: ${second}`, ROLLOUT_USAGE);
    const body = {
      imageRef: first,
      canary: num("canary", values.canary),
      growth: num("growth", values.growth),
      maxFailureRate: num("max-failure-rate", values["max-failure-rate"]),
      concurrency: num("concurrency", values.concurrency),
      fromImageRef: values.from,
    };
    const r = await call("POST", "/rollouts", body);
    print(
      r,
      `rollout ${String(r.rolloutId)} → ${first} (${String(r.digest)}): ${String(r.total)} machines in waves ${JSON.stringify(r.waves)}`,
    );
    return values.wait ? await follow(String(r.rolloutId)) : 0;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    io.err(`pipbot release rollout: ${(e as Error).message}`);
    return 1;
  }
}
