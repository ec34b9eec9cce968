/**
 * `pipbot check [--json] [--only NAMES] [--procfile PATH]`: validate the configuration of every
 * process without starting anything. Exit 0 when everything is valid, 1 otherwise.
 */
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseCommandArgs, UsageError } from "../shared/cli-args.ts";
import { procfilePathFrom, withChildPathsFrom } from "../shared/config/index.ts";
import { buildReport, CONFIG_PROCS, type ConfigProc, formatReport } from "./report.ts";

const USAGE = `usage: pipbot check [--json] [--only NAMES] [--procfile PATH]

Prints the effective configuration of each process (${CONFIG_PROCS.join(", ")}) with secrets
redacted, what it implies (AI mode and providers, sync enabled, binds, Procfile order), and every
problem. Exit 0 when valid, 1 otherwise.

options:
  --json            machine-readable report
  --only NAMES      comma-separated subset, e.g. --only gateway,sync
  --procfile PATH   the Procfile to check (default: $PROCFILE or ./Procfile)`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    { json: { type: "boolean" }, only: { type: "string" }, procfile: { type: "string" } },
    USAGE,
  );
  const only = values.only
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only?.filter((n) => !(CONFIG_PROCS as string[]).includes(n)) ?? [];
  if (unknown.length > 0)
    throw new UsageError(`unknown process ${unknown.join(", ")} (known: ${CONFIG_PROCS.join(", ")})`, USAGE);
  const env = process.env;
  const path = procfilePathFrom(values.procfile, env);
  let text: string | null = null;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    text = null;
  }
  // What `pipbot start --procfile PATH` would do: a relative DATA_DIR or GATEWAY_CONTROL_UI_DIR is
  // resolved against the Procfile's directory, where the processes run (withChildPathsFrom).
  const report = buildReport(
    withChildPathsFrom(env, dirname(path)),
    (only as ConfigProc[] | undefined) ?? CONFIG_PROCS,
    {
      path,
      text,
    },
  );
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
  return report.ok ? 0 : 1;
}
