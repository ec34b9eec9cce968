/**
 * `pipbot status [--json] [--only NAMES] [--timeout-ms N] [--procfile PATH]`: ask the running processes of this
 * machine how they are, through their token-free health endpoints, all at once with a per-request
 * deadline. Exit 0 when every selected process is up and ready, 1 otherwise, 2 usage.
 */
import { dirname } from "node:path";
import { parseCommandArgs, UsageError } from "../shared/cli-args.ts";
import { procfilePathFrom, secretValues } from "../shared/config/index.ts";
import { identity } from "../shared/identity.ts";
import { Redactor } from "../shared/redact.ts";
import { PROBES, type ProcessStatus } from "./probes.ts";
import { buildStatusReport, formatStatus, type StatusReport } from "./render.ts";
import { readSupervisorSection, statusFileFor } from "./supervisor.ts";
import { PROC_NAMES, type ProcName, targets } from "./targets.ts";

const DEFAULT_TIMEOUT_MS = 2000;

const USAGE = `usage: pipbot status [--json] [--only NAMES] [--timeout-ms N] [--procfile PATH]

Asks the processes running on this machine (${PROC_NAMES.join(", ")}) how they are, through their
health endpoints (no token needed), concurrently, each request bounded by --timeout-ms. Reads the
same variables as the processes: AI_HOST/AI_PORT, SYNC_STATUS_PORT, GATEWAY_HOST/GATEWAY_PORT
(a wildcard bind such as 0.0.0.0 or :: is asked on 127.0.0.1).

Prints this image's identity, then one line per process: up/ready or DOWN with the reason
(connection refused, timeout, HTTP status and the body's reason), then its key facts; then the
supervisor's view from DATA_DIR/supervisor-status.json: its pid and state, and per child its pid,
state, uptime, restarts and last exit. A relative DATA_DIR is relative to the Procfile's directory,
as for pipbot start; without DATA_DIR, the newest of its ./data and ./data/demo.
Exit 0 when every selected process is up and ready, 1 when any is down or not ready.

options:
  --json            one JSON object for scripts
  --only NAMES      comma-separated subset, e.g. --only gateway,sync
  --timeout-ms N    per-request timeout in milliseconds (default ${DEFAULT_TIMEOUT_MS})
  --procfile PATH   the Procfile the runtime was started with (default: $PROCFILE or ./Procfile):
                    where a relative DATA_DIR is found, as for pipbot start --procfile`;

/** A live process with this pid (EPERM: it exists, owned by someone else). */
function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * `dataDirBase`: the directory a relative DATA_DIR is resolved against, the Procfile's (the
 * supervisor's rule, see withDataDirFrom).
 */
export async function collectStatus(
  env: Record<string, string | undefined>,
  names: readonly ProcName[],
  timeoutMs: number,
  dataDirBase: string,
): Promise<StatusReport> {
  const results = await Promise.all(targets(env, names).map((t) => PROBES[t.name](t, timeoutMs)));
  const processes: Partial<Record<ProcName, ProcessStatus>> = {};
  names.forEach((n, i) => {
    processes[n] = results[i];
  });
  const section = readSupervisorSection(statusFileFor(env.DATA_DIR, dataDirBase), pidRunning);
  const report = buildStatusReport(identity([...names], env), processes, timeoutMs, new Date(), section);
  // The endpoints hold no secrets; redact anyway, so a reason quoting one cannot leak it.
  return new Redactor(secretValues(env)).value(report) as StatusReport;
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      json: { type: "boolean" },
      only: { type: "string" },
      "timeout-ms": { type: "string" },
      procfile: { type: "string" },
    },
    USAGE,
  );
  let names: ProcName[] = [...PROC_NAMES];
  if (values.only !== undefined) {
    const only = values.only
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    if (only.length === 0) throw new UsageError("--only needs at least one process name", USAGE);
    const unknown = only.filter((n) => !(PROC_NAMES as readonly string[]).includes(n));
    if (unknown.length > 0)
      throw new UsageError(`unknown process ${unknown.join(", ")} (known: ${PROC_NAMES.join(", ")})`, USAGE);
    names = PROC_NAMES.filter((n) => only.includes(n));
  }
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  const t = values["timeout-ms"];
  if (t !== undefined) {
    if (!/^\d+$/.test(t.trim()) || Number(t) < 1 || Number(t) > 600_000)
      throw new UsageError(
        `--timeout-ms must be milliseconds from 1 to 600000, got ${JSON.stringify(t)}`,
        USAGE,
      );
    timeoutMs = Number(t);
  }
  const procfile = procfilePathFrom(values.procfile, process.env);
  const report = await collectStatus(process.env, names, timeoutMs, dirname(procfile));
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatStatus(report)}\n`);
  return report.ok ? 0 : 1;
}
