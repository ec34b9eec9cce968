/**
 * A small client of the Fly Machines API (https://api.machines.dev/v1): create a volume and a
 * machine, read and update a machine, wait for a state. 429 and 5xx are retried with backoff
 * (Retry-After honoured); other errors carry Fly's own `{"error": …}` message. FlyUnavailable means
 * the API could not be reached at all: the caller stops and resumes later, it is not a machine fault.
 */

export interface FlyMachine {
  id: string;
  name?: string;
  state: string;
  region: string;
  instance_id: string;
  config: Record<string, unknown> & { image: string };
  image_ref?: { registry?: string; repository?: string; tag?: string; digest?: string };
  events?: { type: string; status: string; source?: string; timestamp: number; request?: unknown }[];
  checks?: { name: string; status: string; output?: string; updated_at?: string }[];
}

export class FlyError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class FlyUnavailable extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FlyOptions {
  baseUrl: string;
  token: string;
  /** Tries for 429/5xx/network errors (default 5). */
  tries?: number;
  /** First backoff in ms (default 500), doubled per try, at most 10 s unless Retry-After says more. */
  backoffMs?: number;
}

export function flyFromEnv(): FlyOptions {
  const token = process.env.FLY_API_TOKEN;
  if (!token)
    throw new Error("FLY_API_TOKEN is not set on the Convex deployment (npx convex env set FLY_API_TOKEN …)");
  const backoff = Number(process.env.PIPBOT_FLY_BACKOFF_MS);
  return {
    baseUrl: (process.env.FLY_API_URL || "https://api.machines.dev").replace(/\/+$/, ""),
    token,
    ...(backoff >= 0 && process.env.PIPBOT_FLY_BACKOFF_MS ? { backoffMs: backoff } : {}),
  };
}

export class FlyApi {
  constructor(private readonly o: FlyOptions) {}

  private async call<T>(method: string, path: string, body?: unknown, okStatuses = [200, 201]): Promise<T> {
    const tries = this.o.tries ?? 5;
    let wait = this.o.backoffMs ?? 500;
    for (let i = 1; ; i++) {
      let res: Response;
      try {
        res = await fetch(`${this.o.baseUrl}/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${this.o.token}`, "content-type": "application/json" },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
      } catch (e) {
        if (i >= tries) throw new FlyUnavailable(`Fly API unreachable: ${(e as Error).message}`);
        await sleep(wait);
        wait = Math.min(wait * 2, 10_000);
        continue;
      }
      if (okStatuses.includes(res.status)) return (await res.json()) as T;
      const text = await res.text();
      let message = text.slice(0, 300);
      try {
        message = String((JSON.parse(text) as { error?: unknown }).error ?? message);
      } catch {
        /* not JSON */
      }
      if ((res.status === 429 || res.status >= 500) && i < tries) {
        const ra = Number(res.headers.get("retry-after"));
        await sleep(Number.isFinite(ra) && ra > 0 ? ra * 1000 : wait);
        wait = Math.min(wait * 2, 10_000);
        continue;
      }
      if (res.status === 429 || res.status >= 500)
        throw new FlyUnavailable(`Fly API ${method} ${path}: HTTP ${res.status}: ${message}`);
      throw new FlyError(`Fly API ${method} ${path}: HTTP ${res.status}: ${message}`, res.status);
    }
  }

  createVolume(app: string, v: { name: string; region: string; size_gb: number }) {
    return this.call<{ id: string }>("POST", `/apps/${app}/volumes`, v);
  }

  createMachine(app: string, body: { name?: string; region: string; config: Record<string, unknown> }) {
    return this.call<FlyMachine>("POST", `/apps/${app}/machines`, body);
  }

  getMachine(app: string, id: string) {
    return this.call<FlyMachine>("GET", `/apps/${app}/machines/${id}`);
  }

  /** Updates in place: the same machine and volume, a new instance. */
  updateMachine(app: string, id: string, config: Record<string, unknown>) {
    return this.call<FlyMachine>("POST", `/apps/${app}/machines/${id}`, { config });
  }

  /** True when the instance reached `state` within `timeoutS`; false on Fly's 408. */
  async waitFor(
    app: string,
    id: string,
    instanceId: string,
    state: string,
    timeoutS: number,
  ): Promise<boolean> {
    try {
      await this.call(
        "GET",
        `/apps/${app}/machines/${id}/wait?instance_id=${encodeURIComponent(instanceId)}&state=${state}&timeout=${timeoutS}`,
      );
      return true;
    } catch (e) {
      if (e instanceof FlyError && e.status === 408) return false;
      throw e;
    }
  }
}

/** The machine's last events, newest first, compact enough for a report. */
export function lastEvents(m: FlyMachine, n = 5) {
  return [...(m.events ?? [])]
    .sort((a, b) => b.timestamp - a.timestamp)
    .slice(0, n)
    .map((e) => ({
      type: e.type,
      status: e.status,
      timestamp: e.timestamp,
      ...(e.request ? { request: e.request } : {}),
    }));
}

/**
 * Waits for the instance to start and for every check to pass. Returns null when healthy, else a
 * reason with the machine's last events (the machine is kept for inspection, never destroyed).
 */
export async function waitHealthy(
  fly: FlyApi,
  app: string,
  id: string,
  instanceId: string,
  opts: { waitTimeoutS: number; checksTimeoutMs: number; pollMs: number },
): Promise<{ machine: FlyMachine; problem: string | null }> {
  const started = await fly.waitFor(app, id, instanceId, "started", opts.waitTimeoutS);
  let m = await fly.getMachine(app, id);
  if (!started || m.state !== "started")
    return { machine: m, problem: `machine ${id} did not start (state ${m.state})` };
  const deadline = Date.now() + opts.checksTimeoutMs;
  for (;;) {
    const checks = m.checks ?? [];
    const bad = checks.filter((c) => c.status !== "passing");
    if (bad.length === 0) return { machine: m, problem: null };
    if (Date.now() > deadline)
      return {
        machine: m,
        problem: `checks not passing on ${id}: ${bad.map((c) => `${c.name}=${c.status}${c.output ? ` (${c.output.slice(0, 120)})` : ""}`).join(", ")}`,
      };
    await sleep(opts.pollMs);
    m = await fly.getMachine(app, id);
    if (m.state !== "started")
      return { machine: m, problem: `machine ${id} left started (state ${m.state})` };
  }
}
