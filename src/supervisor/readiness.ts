/**
 * Readiness: how the supervisor knows a child is up. Known processes expose a health endpoint
 * (see the contracts); any other process counts as ready once it has stayed up for a short while.
 */
import { reachableHost } from "../shared/config/env.ts";

export { reachableHost };

export type ReadinessCheck = { kind: "http"; url: string } | { kind: "uptime"; ms: number };

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
      return { kind: "http", url: `http://${reachableHost(env.AI_HOST)}:${env.AI_PORT}/healthz` };
    case "sync":
      return { kind: "http", url: `http://127.0.0.1:${env.SYNC_STATUS_PORT}/healthz` };
    case "gateway":
      return { kind: "http", url: `http://${reachableHost(env.GATEWAY_HOST)}:${env.GATEWAY_PORT}/healthz` };
    default:
      return { kind: "uptime", ms: env.SUPERVISOR_READY_UPTIME_MS };
  }
}

export type FetchLike = (url: string, init?: { signal?: AbortSignal }) => Promise<{ status: number }>;

/** One probe: true when the health endpoint answers 2xx within `timeoutMs`. */
export async function probe(fetchFn: FetchLike, url: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetchFn(url, { signal: AbortSignal.timeout(timeoutMs) });
    return res.status >= 200 && res.status < 300;
  } catch {
    return false;
  }
}
