/**
 * `pipbot status`'s report and its human form: the identity line, one line per process (up/ready
 * or down with the reason, then the key facts), and a summary line. Pure.
 */
import type { Identity } from "../shared/identity.ts";
import { formatDuration } from "./format.ts";
import { formatSupervisor, type SupervisorSection } from "./supervisor.ts";

export { formatDuration };

import type { AiFacts, GatewayFacts, ProcessStatus, SyncFacts } from "./probes.ts";
import type { ProcName } from "./targets.ts";

export interface StatusReport {
  /** Every selected process is up and ready. */
  ok: boolean;
  checkedAt: string;
  timeoutMs: number;
  identity: Identity;
  processes: Partial<Record<ProcName, ProcessStatus>>;
  /** The supervisor's view (DATA_DIR/supervisor-status.json), null when there is none. */
  supervisor: SupervisorSection | null;
}

export function buildStatusReport(
  identity: Identity,
  processes: Partial<Record<ProcName, ProcessStatus>>,
  timeoutMs: number,
  now: Date,
  supervisor: SupervisorSection | null = null,
): StatusReport {
  const ok = Object.values(processes).every((p) => p?.up && p.ready);
  return { ok, checkedAt: now.toISOString(), timeoutMs, identity, processes, supervisor };
}

function ago(at: number | null, nowMs: number): string {
  if (at === null) return "never";
  return `${new Date(at).toISOString()} (${formatDuration(Math.max(0, nowMs - at))} ago)`;
}

const orNone = (v: unknown) => (v === null || v === undefined ? "?" : String(v));

function aiFacts(f: AiFacts): string[] {
  return [
    `mode ${orNone(f.mode)}${f.simulator ? " (SIMULATOR)" : ""}`,
    `providers ${f.providers === null ? "?" : f.providers.length ? f.providers.join(",") : "none"}`,
    `default model ${orNone(f.defaultModel)}`,
  ];
}

function syncFacts(f: SyncFacts, nowMs: number): string[] {
  if (f.state === null && f.pending === null) return [];
  const e = f.lastError;
  const err = e
    ? `last error ${e.at === null ? "" : `${formatDuration(Math.max(0, nowMs - e.at))} ago: `}${e.status === null ? "" : `HTTP ${e.status} `}${e.message}${e.hint ? ` (hint: ${e.hint})` : ""}`
    : "last error none";
  return [
    `state ${orNone(f.state)}`,
    `pending ${orNone(f.pending)}`,
    `oldest pending ${f.oldestPendingAgeMs === null ? "none" : formatDuration(f.oldestPendingAgeMs)}`,
    `last success ${ago(f.lastSuccessAt, nowMs)}`,
    err,
    `quarantined ${orNone(f.quarantined)}`,
  ];
}

/** The gateway's facts in reading order; any other count its /healthz or /readyz adds follows by name. */
function gatewayFacts(f: GatewayFacts): string[] {
  const c = { ...f.counts };
  const take = (k: string) => {
    const v = c[k];
    delete c[k];
    return v;
  };
  const [connections, runs, waiting, downFor, schema] = [
    take("connections"),
    take("activeRuns"),
    take("ai.waitingRuns"),
    take("ai.downForMs"),
    take("store.schemaVersion"),
  ];
  take("ai.waitMs"); // /readyz's wait bound is configuration, not state.
  const ai =
    f.aiReachable === null
      ? null
      : f.aiReachable
        ? "AI server reachable"
        : `AI server UNREACHABLE${downFor === undefined ? "" : ` for ${formatDuration(downFor)}`}${waiting ? ` (turns waiting ${waiting})` : ""}`;
  return [
    f.protocols === null ? null : `protocol ${f.protocols}`,
    connections === undefined ? null : `connections ${connections}`,
    runs === undefined ? null : `running turns ${runs}`,
    ai,
    f.controlUi === null ? null : `control UI ${f.controlUi ? "on" : "off"}`,
    schema === undefined ? null : `store schema ${schema}`,
    ...Object.entries(c).map(([k, v]) => `${k} ${v}`),
  ].filter((x): x is string => x !== null);
}

function identityLine(i: Identity): string {
  const fly = [
    `app ${i.flyAppName ?? "-"}`,
    `machine ${i.flyMachineId ?? "-"}`,
    `region ${i.flyRegion ?? "-"}`,
    `image ${i.flyImageRef ?? "-"}`,
  ];
  return `pipbot ${i.version} (git ${i.gitSha.slice(0, 12)}, built ${i.buildTime}) · mode ${i.mode} · ${fly.join(" · ")}`;
}

export function formatStatus(r: StatusReport): string {
  const nowMs = Date.parse(r.checkedAt);
  const out = [identityLine(r.identity)];
  const bad: string[] = [];
  for (const [name, p] of Object.entries(r.processes) as [ProcName, ProcessStatus][]) {
    const state = !p.up ? "DOWN" : p.ready ? "up, ready" : "up, NOT READY";
    const facts =
      name === "ai"
        ? p.up
          ? aiFacts(p.facts as AiFacts)
          : []
        : name === "sync"
          ? syncFacts(p.facts as SyncFacts, nowMs)
          : gatewayFacts(p.facts as GatewayFacts);
    const parts = [...(p.reason ? [p.reason] : []), ...facts, ...(p.url ? [p.url] : [])];
    out.push(`${name.padEnd(8)} ${state.padEnd(13)} ${parts.join(" · ")}`);
    if (!p.up || !p.ready) bad.push(`${name} ${p.up ? "not ready" : "down"}`);
  }
  out.push(...formatSupervisor(r.supervisor, nowMs));
  const n = Object.keys(r.processes).length;
  out.push(r.ok ? `OK: ${n} of ${n} up and ready` : `NOT OK: ${bad.join(", ")}`);
  return out.join("\n");
}
