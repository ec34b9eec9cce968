/**
 * A fake of the Fly Machines API (https://api.machines.dev/v1) on loopback, speaking its documented
 * shapes: `Authorization: Bearer`, machines with `id`, `state` (created → starting → started,
 * replacing on update, stopped after a crash), `instance_id` (new per update), `config`,
 * `image_ref`, `events` and `checks` (`passing`/`warning`/`critical`); volumes; the wait endpoint
 * (`GET …/wait?instance_id=&state=&timeout=` → 200 `{ok:true}` or 408); errors as `{"error": …}`;
 * 429 rate limits with `retry-after`. Image behaviour is scripted per image ref (`crash`,
 * `failChecks`) and every update is counted per machine.
 */

export interface FakeMachine {
  id: string;
  name: string;
  app: string;
  state: string;
  region: string;
  instance_id: string;
  config: Record<string, unknown> & { image: string };
  events: { type: string; status: string; source: string; timestamp: number; request?: unknown }[];
  checks: { name: string; status: string; output: string; updated_at: string }[];
  created_at: string;
  updated_at: string;
}

export interface FlyFaults {
  /** Answer the next N requests with 429 (rate limited). */
  rateLimitNext: number;
  /** Images whose process exits at boot (the machine ends `stopped`, exit events recorded). */
  crash: Set<string>;
  /** Machines that crash at boot whatever their image (a bad volume, say). */
  crashIds: Set<string>;
  /** Images that start but whose checks stay `critical`. */
  failChecks: Set<string>;
  /** Called before each update is applied (e.g. to take the API down mid-rollout). */
  beforeUpdate?: (m: FakeMachine) => void;
}

export interface FakeFly {
  url: string;
  token: string;
  machines: Map<string, FakeMachine>;
  volumes: Map<string, { id: string; app: string; name: string; region: string; size_gb: number }>;
  /** Update POSTs per machine id. */
  updates: Map<string, number>;
  /** Create POST bodies. */
  creates: Record<string, unknown>[];
  requests: { method: string; path: string; status: number }[];
  faults: FlyFaults;
  /** Adds `n` started machines in `app` running `image` (a fleet that already exists). */
  seed(app: string, image: string, n: number): FakeMachine[];
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

const hex = (n: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");

export async function startFakeFly(opts: { token?: string } = {}): Promise<FakeFly> {
  const token = opts.token ?? "fly-test-token-0123456789";
  let server: ReturnType<typeof Bun.serve> | null = null;
  let port = 0;
  const f: FakeFly = {
    url: "",
    token,
    machines: new Map(),
    volumes: new Map(),
    updates: new Map(),
    creates: [],
    requests: [],
    faults: { rateLimitNext: 0, crash: new Set(), crashIds: new Set(), failChecks: new Set() },
    seed(app, image, n) {
      return Array.from({ length: n }, () => {
        const m = newMachine(app, { image }, "iad");
        m.state = "started";
        m.checks = checksFor(m, "passing");
        f.machines.set(m.id, m);
        return m;
      });
    },
    down: async () => {
      await server?.stop(true);
      server = null;
    },
    up: async () => {
      server = listen(port);
    },
    stop: async () => {
      await server?.stop(true);
    },
  };

  const now = () => new Date().toISOString();
  const event = (m: FakeMachine, type: string, status: string, request?: unknown) =>
    m.events.push({
      type,
      status,
      source: type === "exit" ? "flyd" : "user",
      timestamp: Date.now(),
      ...(request ? { request } : {}),
    });
  const checksFor = (m: FakeMachine, status: string) =>
    Object.keys((m.config.checks as Record<string, unknown>) ?? { gateway: {} }).map((name) => ({
      name,
      status,
      output: status === "passing" ? "HTTP GET /healthz: 200 OK" : "HTTP GET /healthz: connection refused",
      updated_at: now(),
    }));
  function newMachine(app: string, config: Record<string, unknown>, region: string): FakeMachine {
    return {
      id: hex(7),
      name: `m-${hex(3)}`,
      app,
      state: "created",
      region,
      instance_id: `01${hex(12).toUpperCase()}`,
      config: config as FakeMachine["config"],
      events: [],
      checks: [],
      created_at: now(),
      updated_at: now(),
    };
  }
  /** Boots the current instance: started (+ checks) or a crash that leaves it stopped. */
  function boot(m: FakeMachine) {
    const instance = m.instance_id;
    queueMicrotask(() => {
      if (m.instance_id !== instance) return;
      m.state = "starting";
      event(m, "start", "started");
      setTimeout(() => {
        if (m.instance_id !== instance) return;
        if (f.faults.crash.has(m.config.image) || f.faults.crashIds.has(m.id)) {
          event(m, "exit", "stopped", { exit_event: { exit_code: 1, oom_killed: false, restarting: false } });
          m.state = "stopped";
          m.checks = checksFor(m, "critical");
        } else {
          m.state = "started";
          m.checks = checksFor(m, f.faults.failChecks.has(m.config.image) ? "critical" : "passing");
        }
        m.updated_at = now();
      }, 1);
    });
  }
  const view = (m: FakeMachine) => {
    const [repo, tag] = m.config.image.split(/:(?=[^/:]+$)/);
    const [registry, ...rest] = (repo ?? "").split("/");
    const { app: _a, ...out } = m;
    return {
      ...out,
      private_ip: "fdaa::3",
      image_ref: { registry, repository: rest.join("/"), tag: tag ?? "", digest: "" },
    };
  };
  const err = (status: number, error: string, headers: Record<string, string> = {}) =>
    Response.json({ error }, { status, headers });

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (req.headers.get("authorization") !== `Bearer ${token}`)
      return err(401, "You must be authenticated to view this.");
    if (f.faults.rateLimitNext > 0) {
      f.faults.rateLimitNext--;
      return err(429, "rate limit exceeded", { "retry-after": "0" });
    }
    const vol = /^\/v1\/apps\/([^/]+)\/volumes$/.exec(url.pathname);
    if (vol && req.method === "POST") {
      const b = (await req.json()) as { name?: string; region?: string; size_gb?: number };
      if (!b.name || !b.region) return err(400, "name and region are required");
      const v = {
        id: `vol_${hex(8)}`,
        app: vol[1]!,
        name: b.name,
        region: b.region,
        size_gb: b.size_gb ?? 1,
      };
      f.volumes.set(v.id, v);
      return Response.json({ ...v, state: "created", attached_machine_id: null });
    }
    const list = /^\/v1\/apps\/([^/]+)\/machines$/.exec(url.pathname);
    if (list && req.method === "POST") {
      const b = (await req.json()) as { name?: string; region?: string; config?: Record<string, unknown> };
      f.creates.push(b);
      if (!b.config || typeof b.config.image !== "string") return err(400, "config.image is required");
      for (const mount of (b.config.mounts as { volume: string }[]) ?? [])
        if (!f.volumes.has(mount.volume)) return err(400, `volume ${mount.volume} not found`);
      const m = newMachine(list[1]!, b.config, b.region ?? "iad");
      if (b.name) m.name = b.name;
      f.machines.set(m.id, m);
      event(m, "launch", "created");
      boot(m);
      return Response.json(view(m));
    }
    if (list && req.method === "GET")
      return Response.json([...f.machines.values()].filter((m) => m.app === list[1]).map(view));
    const one = /^\/v1\/apps\/([^/]+)\/machines\/([^/]+)(\/wait)?$/.exec(url.pathname);
    const m = one ? f.machines.get(one[2]!) : undefined;
    if (!one || !m || m.app !== one[1]) return err(404, "machine not found");
    if (one[3] && req.method === "GET") {
      const state = url.searchParams.get("state") ?? "started";
      const instance = url.searchParams.get("instance_id");
      const timeoutS = Number(url.searchParams.get("timeout") ?? 60);
      if (instance && instance !== m.instance_id)
        return err(400, "instance_id is not the machine's current instance");
      const deadline = Date.now() + timeoutS * 1000;
      while (m.state !== state) {
        if (Date.now() >= deadline) return err(408, `deadline_exceeded: machine did not reach ${state}`);
        await Bun.sleep(2);
      }
      return Response.json({ ok: true });
    }
    if (req.method === "GET") return Response.json(view(m));
    if (req.method === "POST") {
      const b = (await req.json()) as { config?: Record<string, unknown> };
      if (!b.config || typeof b.config.image !== "string") return err(400, "config.image is required");
      f.faults.beforeUpdate?.(m);
      f.updates.set(m.id, (f.updates.get(m.id) ?? 0) + 1);
      m.config = b.config as FakeMachine["config"];
      m.instance_id = `01${hex(12).toUpperCase()}`;
      m.state = "replacing";
      m.checks = checksFor(m, "warning");
      event(m, "update", "replacing");
      boot(m);
      return Response.json(view(m));
    }
    return err(405, "method not allowed");
  }

  function listen(p: number) {
    const s = Bun.serve({
      port: p,
      hostname: "127.0.0.1",
      idleTimeout: 0,
      async fetch(req) {
        const res = await handle(req);
        f.requests.push({ method: req.method, path: new URL(req.url).pathname, status: res.status });
        return res;
      },
    });
    port = s.port ?? p;
    f.url = `http://127.0.0.1:${port}`;
    return s;
  }
  server = listen(0);
  return f;
}
