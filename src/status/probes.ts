/**
 * The probes of `pipbot status`: GET each token-free health/status endpoint with a hard deadline
 * (the whole request, body included), classify failures (connection refused, timeout, HTTP status
 * with the body's reason), and turn the answers into one ProcessStatus per process.
 */
import type { ProcName, Target } from "./targets.ts";

export type FailureKind = "config" | "refused" | "timeout" | "http" | "error";

export type HttpResult =
  | { ok: true; status: number; body: unknown }
  | { ok: false; kind: FailureKind; reason: string; status: number | null; body: unknown };

export interface AiFacts {
  mode: string | null;
  providers: string[] | null;
  defaultModel: string | null;
  simulator: boolean | null;
}

export interface SyncFacts {
  state: string | null;
  pending: number | null;
  oldestPendingAgeMs: number | null;
  lastSuccessAt: number | null;
  lastError: { at: number | null; message: string; status: number | null; hint: string | null } | null;
  quarantined: number | null;
  delivered: number | null;
}

export interface GatewayFacts {
  /** /readyz's reason when it answers 503, else null. */
  readyReason: string | null;
  /** From /healthz: the protocol versions served, "3-4". */
  protocols: string | null;
  /** Whether the OpenClaw Control UI is served at /control/. */
  controlUi: boolean | null;
  /** The AI server's reachability as the gateway last saw it. */
  aiReachable: boolean | null;
  /** Other numeric fields /healthz or /readyz expose (connections, activeRuns, store.schemaVersion…), by name. */
  counts: Record<string, number>;
}

export interface ProcessStatus<F = AiFacts | SyncFacts | GatewayFacts> {
  up: boolean;
  ready: boolean;
  url: string | null;
  /** Why it is down or not ready; null when up and ready. */
  reason: string | null;
  /** The kind of failure behind `reason`. */
  failure: FailureKind | null;
  facts: F;
}

type Rec = Record<string, unknown>;
const obj = (v: unknown): Rec => (v && typeof v === "object" && !Array.isArray(v) ? (v as Rec) : {});
const str = (v: unknown) => (typeof v === "string" ? v : null);
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The human reason in an error body: `{reason}`, `{error: {message}}`, `{message}` or the text. */
function bodyReason(body: unknown): string | null {
  if (typeof body === "string") return body.trim().slice(0, 300) || null;
  const b = obj(body);
  return str(b.reason) ?? str(obj(b.error).message) ?? str(b.error) ?? str(b.message);
}

/** GET `url` as JSON, settled within `timeoutMs` whatever the server does. */
export async function getJson(url: string, timeoutMs: number): Promise<HttpResult> {
  const ctl = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<HttpResult>((res) => {
    timer = setTimeout(() => {
      ctl.abort();
      res({ ok: false, kind: "timeout", reason: `timeout after ${timeoutMs} ms`, status: null, body: null });
    }, timeoutMs);
  });
  const work = (async (): Promise<HttpResult> => {
    try {
      const res = await fetch(url, {
        signal: ctl.signal,
        redirect: "manual",
        headers: { accept: "application/json" },
      });
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = text.slice(0, 1000);
      }
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, body };
      const why = bodyReason(body);
      return {
        ok: false,
        kind: "http",
        reason: `HTTP ${res.status}${why ? `: ${why}` : ""}`,
        status: res.status,
        body,
      };
    } catch (e) {
      const err = e as { name?: string; code?: string; message?: string };
      if (err.code === "ECONNREFUSED" || err.code === "ConnectionRefused")
        return { ok: false, kind: "refused", reason: "connection refused", status: null, body: null };
      if (err.name === "TimeoutError" || err.name === "AbortError")
        return {
          ok: false,
          kind: "timeout",
          reason: `timeout after ${timeoutMs} ms`,
          status: null,
          body: null,
        };
      const detail = [err.code, err.message].filter(Boolean).join(" ");
      return { ok: false, kind: "error", reason: detail || String(e), status: null, body: null };
    }
  })();
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function down<F>(t: Target, r: Extract<HttpResult, { ok: false }>, path: string, facts: F): ProcessStatus<F> {
  return { up: false, ready: false, url: t.baseUrl, reason: `${r.reason} (${path})`, failure: r.kind, facts };
}

function unconfigured<F>(t: Target, facts: F): ProcessStatus<F> {
  return { up: false, ready: false, url: null, reason: t.problem, failure: "config", facts };
}

/** A 2xx whose body says `ok: false` is not healthy either. */
function healthy(r: HttpResult): HttpResult {
  if (r.ok && obj(r.body).ok === false)
    return {
      ok: false,
      kind: "http",
      reason: `HTTP ${r.status} with ok: false`,
      status: r.status,
      body: r.body,
    };
  return r;
}

const NO_AI: AiFacts = { mode: null, providers: null, defaultModel: null, simulator: null };

export async function probeAi(t: Target, timeoutMs: number): Promise<ProcessStatus<AiFacts>> {
  if (!t.baseUrl) return unconfigured(t, NO_AI);
  const h = healthy(await getJson(`${t.baseUrl}/healthz`, timeoutMs));
  if (!h.ok) return down(t, h, "/healthz", NO_AI);
  const b = obj(h.body);
  const p = b.providers;
  const providers = Array.isArray(p)
    ? p.filter((x): x is string => typeof x === "string")
    : Object.entries(obj(p))
        .filter(([, on]) => on === true)
        .map(([k]) => k);
  const facts: AiFacts = {
    mode: str(b.mode),
    providers,
    defaultModel: str(b.defaultModel),
    simulator: typeof b.simulator === "boolean" ? b.simulator : null,
  };
  return { up: true, ready: true, url: t.baseUrl, reason: null, failure: null, facts };
}

const NO_SYNC: SyncFacts = {
  state: null,
  pending: null,
  oldestPendingAgeMs: null,
  lastSuccessAt: null,
  lastError: null,
  quarantined: null,
  delivered: null,
};

export async function probeSync(t: Target, timeoutMs: number): Promise<ProcessStatus<SyncFacts>> {
  if (!t.baseUrl) return unconfigured(t, NO_SYNC);
  const [hr, s] = await Promise.all([
    getJson(`${t.baseUrl}/healthz`, timeoutMs),
    getJson(`${t.baseUrl}/status`, timeoutMs),
  ]);
  const h = healthy(hr);
  if (!h.ok) return down(t, h, "/healthz", NO_SYNC);
  if (!s.ok)
    return {
      up: true,
      ready: false,
      url: t.baseUrl,
      reason: `${s.reason} (/status)`,
      failure: s.kind,
      facts: NO_SYNC,
    };
  const b = obj(s.body);
  const le = b.lastError === null || b.lastError === undefined ? null : obj(b.lastError);
  const facts: SyncFacts = {
    state: str(b.state),
    pending: num(b.pending),
    oldestPendingAgeMs: num(b.oldestPendingAgeMs),
    lastSuccessAt: num(b.lastSuccessAt),
    lastError: le
      ? { at: num(le.at), message: str(le.message) ?? "", status: num(le.status), hint: str(le.hint) }
      : null,
    quarantined: num(b.quarantined),
    delivered: num(b.delivered),
  };
  return { up: true, ready: true, url: t.baseUrl, reason: null, failure: null, facts };
}

/** Numeric fields of a body (one level of nesting as `a.b`), except `ok`. */
function counts(body: unknown, into: Record<string, number>) {
  for (const [k, val] of Object.entries(obj(body))) {
    if (k === "ok") continue;
    const n = num(val);
    if (n !== null) into[k] = n;
    else
      for (const [k2, v2] of Object.entries(obj(val))) {
        const n2 = num(v2);
        if (n2 !== null) into[`${k}.${k2}`] = n2;
      }
  }
}

const noGateway = (): GatewayFacts => ({
  readyReason: null,
  protocols: null,
  controlUi: null,
  aiReachable: null,
  counts: {},
});

const bool = (v: unknown) => (typeof v === "boolean" ? v : null);

export async function probeGateway(t: Target, timeoutMs: number): Promise<ProcessStatus<GatewayFacts>> {
  if (!t.baseUrl) return unconfigured(t, noGateway());
  const [hr, r] = await Promise.all([
    getJson(`${t.baseUrl}/healthz`, timeoutMs),
    getJson(`${t.baseUrl}/readyz`, timeoutMs),
  ]);
  const h = healthy(hr);
  const facts = noGateway();
  if (!h.ok) return down(t, h, "/healthz", facts);
  const b = obj(h.body);
  const proto = obj(b.protocol);
  const [min, max] = [num(proto.min), num(proto.max)];
  facts.protocols = min === null || max === null ? null : min === max ? String(min) : `${min}-${max}`;
  facts.controlUi = bool(b.controlUi);
  // /readyz probes the AI server now (asked alongside /healthz): its answer is the fresher one —
  // ready means reachable; a 503 says `ai.reachable` when the AI server is the reason.
  facts.aiReachable = r.ok ? true : (bool(obj(obj(r.body).ai).reachable) ?? bool(obj(b.ai).reachable));
  counts({ ...b, protocol: undefined }, facts.counts);
  counts(r.body, facts.counts);
  if (!r.ok) {
    facts.readyReason = bodyReason(r.body) ?? r.reason;
    return {
      up: true,
      ready: false,
      url: t.baseUrl,
      reason: `${r.reason} (/readyz)`,
      failure: r.kind,
      facts,
    };
  }
  return { up: true, ready: true, url: t.baseUrl, reason: null, failure: null, facts };
}

export const PROBES: Record<ProcName, (t: Target, timeoutMs: number) => Promise<ProcessStatus>> = {
  ai: probeAi,
  sync: probeSync,
  gateway: probeGateway,
};
