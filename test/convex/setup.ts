/**
 * convex-test set-up for the real functions in convex/: the module map (every file, including
 * ./_generated/…, found with Bun.Glob), a fresh backend per test, credentials for a user, a signed
 * sync-v1 push, and the loopback adapter that turns real HTTP requests into `t.fetch` calls so our
 * real processes (AI server, sync worker, `pipbot release`) talk to the Convex code over TCP.
 */
import { join } from "node:path";
import { convexTest } from "convex-test";
import { internal } from "../../convex/_generated/api";
import { hmacSha256Hex } from "../../convex/lib/crypto.ts";
import { logSink } from "../../convex/lib/log.ts";
import schema from "../../convex/schema.ts";

const CONVEX_DIR = join(import.meta.dir, "..", "..", "convex");

export const modules: Record<string, () => Promise<unknown>> = {};
for (const f of new Bun.Glob("**/*.{ts,js}").scanSync(CONVEX_DIR)) {
  if (f.endsWith(".d.ts") || f.includes("tsconfig")) continue;
  modules[`./${f}`] = () => import(join(CONVEX_DIR, f));
}

export type TestConvex = ReturnType<typeof newConvex>;

export function newConvex() {
  return convexTest(schema, modules);
}

/** Captures the backend's log lines (restored by the returned function). */
export function captureLogs(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const before = logSink.write;
  logSink.write = (l) => lines.push(l);
  return { lines, restore: () => (logSink.write = before) };
}

export const USER = "user_convex_test";
export const SERVICE_TOKEN = "svc-convex-token-0123456789";
export const SYNC_SECRET = "sync-convex-secret-0123456789abcdef";

export async function provisionUser(
  t: TestConvex,
  user = USER,
  serviceToken = SERVICE_TOKEN,
  syncSecret = SYNC_SECRET,
): Promise<void> {
  await t.mutation(internal.credentials.register, {
    userId: user,
    machineId: "m-1",
    serviceToken,
    syncSecret,
  });
}

/** A sync-v1 push signed like the sync worker signs it (timestamp + "." + raw body). */
export async function signedPush(
  t: TestConvex,
  body: unknown,
  opts: { user?: string; secret?: string; ts?: number; raw?: string } = {},
): Promise<Response> {
  const raw = opts.raw ?? JSON.stringify(body);
  const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
  const sig = await hmacSha256Hex(opts.secret ?? SYNC_SECRET, [`${ts}.`, new TextEncoder().encode(raw)]);
  return await t.fetch("/sync/v1/push", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-pipbot-user-id": opts.user ?? USER,
      "x-pipbot-timestamp": ts,
      "x-pipbot-signature": `v1=${sig}`,
    },
    body: raw,
  });
}

/** A fresh backend, its log lines captured (restore them after the test), with USER provisioned. */
export async function newUserConvex(): Promise<{ t: TestConvex; logs: ReturnType<typeof captureLogs> }> {
  const t = newConvex();
  const logs = captureLogs();
  await provisionUser(t);
  return { t, logs };
}

export interface UserLoopback {
  t: TestConvex;
  logs: ReturnType<typeof captureLogs>;
  lb: Loopback;
  stop(): Promise<void>;
}

/** newUserConvex() behind the loopback adapter; stop() stops the adapter and restores the log sink. */
export async function startUserLoopback(): Promise<UserLoopback> {
  const { t, logs } = await newUserConvex();
  const lb = startLoopback(t);
  return {
    t,
    logs,
    lb,
    async stop() {
      await lb.stop();
      logs.restore();
    },
  };
}

export interface Loopback {
  url: string;
  /** Requests in flight through the adapter right now. */
  inFlight(): number;
  stop(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1:0 whose every request is `t.fetch(path, …)`: the Convex HTTP
 * router and actions answer, streaming bodies pass through, a client that disconnects aborts the
 * request's signal and cancels the response stream.
 */
export function startLoopback(t: TestConvex): Loopback {
  let inFlight = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(req, srv) {
      srv.timeout(req, 0);
      const url = new URL(req.url);
      inFlight++;
      try {
        const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
        return await t.fetch(url.pathname + url.search, {
          method: req.method,
          headers: req.headers,
          ...(body ? { body } : {}),
          signal: req.signal,
        });
      } finally {
        inFlight--;
      }
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, inFlight: () => inFlight, stop: () => server.stop(true) };
}

export const OPERATOR_KEY = "operator-provider-key-0123456789";

/**
 * Points the proxy at the upstream simulator with the operator's keys (the deployment's
 * environment variables); returns the function that restores the previous values.
 */
export function providerEnv(simUrl: string, key = OPERATOR_KEY): () => void {
  return setEnv({
    ANTHROPIC_API_KEY: key,
    OPENAI_API_KEY: key,
    GEMINI_API_KEY: key,
    ANTHROPIC_BASE_URL: simUrl,
    OPENAI_BASE_URL: simUrl,
    GOOGLE_BASE_URL: simUrl,
  });
}

/** Sets environment variables for the Convex code; returns the function that restores them. */
export function setEnv(vars: Record<string, string>): () => void {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** The deployment environment provisioning and rollouts read, pointed at the fakes (fast waits). */
export function flyEnv(flyUrl: string, flyToken: string, extra: Record<string, string> = {}): () => void {
  return setEnv({
    FLY_API_URL: flyUrl,
    FLY_API_TOKEN: flyToken,
    FLY_USER_APP: "pipbot-users",
    CONVEX_CLOUD_URL: "https://happy-otter-123.convex.cloud",
    CONVEX_SITE_URL: "https://happy-otter-123.convex.site",
    PIPBOT_FLY_WAIT_TIMEOUT_S: "1",
    PIPBOT_CHECKS_TIMEOUT_MS: "300",
    PIPBOT_CHECKS_POLL_MS: "5",
    PIPBOT_FLY_BACKOFF_MS: "1",
    ...extra,
  });
}
