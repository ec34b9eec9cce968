/**
 * Readiness: how the supervisor knows a child is up. Known processes expose a health endpoint
 * (see the contracts); any other process counts as ready once it has stayed up for a short while.
 */
import { reachableHost } from "../shared/config/env.ts";
import { PIPBOT_HEADERS } from "../shared/headers.ts";

export { reachableHost };

/**
 * `instance`: the answer must carry this child's instance id (x-pipbot-instance, see
 * shared/instance.ts) — our three processes echo it, so a stranger on the port is never "ready".
 */
export type ReadinessCheck =
  | { kind: "http"; url: string; instance?: boolean }
  | { kind: "uptime"; ms: number };

export interface ReadinessEnv {
  AI_HOST: string;
  AI_PORT: number;
  SYNC_STATUS_PORT: number;
  GATEWAY_HOST: string;
  GATEWAY_PORT: number;
  SUPERVISOR_READY_UPTIME_MS: number;
}

export function readinessFor(name: string, env: ReadinessEnv): ReadinessCheck {
  switch (name) {
    case "ai":
      return {
        kind: "http",
        url: `http://${reachableHost(env.AI_HOST)}:${env.AI_PORT}/healthz`,
        instance: true,
      };
    case "sync":
      return { kind: "http", url: `http://127.0.0.1:${env.SYNC_STATUS_PORT}/healthz`, instance: true };
    case "gateway":
      return {
        kind: "http",
        url: `http://${reachableHost(env.GATEWAY_HOST)}:${env.GATEWAY_PORT}/healthz`,
        instance: true,
      };
    default:
      return { kind: "uptime", ms: env.SUPERVISOR_READY_UPTIME_MS };
  }
}

export type FetchLike = (
  url: string,
  init?: { signal?: AbortSignal },
) => Promise<{ status: number; headers?: { get(name: string): string | null } }>;

/**
 * One probe: "ready" when the health endpoint answers 2xx within `timeoutMs` (and, when
 * `instance` is given, carries that instance id), "stranger" when a 2xx answer carries another
 * id or none, else "no".
 */
export async function probe(
  fetchFn: FetchLike,
  url: string,
  timeoutMs = 1000,
  instance?: string,
): Promise<"ready" | "stranger" | "no"> {
  try {
    const res = await fetchFn(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status < 200 || res.status >= 300) return "no";
    if (instance === undefined) return "ready";
    return res.headers?.get(PIPBOT_HEADERS.instance) === instance ? "ready" : "stranger";
  } catch {
    return "no";
  }
}
