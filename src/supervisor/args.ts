/**
 * The command lines of `pipbot start` (`--only`, `--procfile`) and `pipbot demo` (`--model`,
 * `--sim-port`): usage text, parsing and validation. A bad argument is a UsageError (exit 2).
 */
import { parseCommandArgs, UsageError } from "../shared/cli-args.ts";
import { DEMO_USAGE } from "./demo.ts";

export const USAGE = `usage: pipbot start [--only NAMES] [--procfile PATH]

Runs every process of the Procfile (ai, sync, gateway) under supervision: start in order with
readiness, restart with backoff, crash-loop detection, graceful stop in reverse order.

options:
  --only NAMES      comma-separated subset of the Procfile's processes, e.g. --only gateway,ai
  --procfile PATH   the Procfile to run (default: $PROCFILE or ./Procfile)
  -h, --help        show this help`;

export interface StartArgs {
  /** The Procfile given on the command line (else $PROCFILE applies). */
  procfile: string | undefined;
  /** The `--only` names, trimmed, empty ones dropped. */
  only: string[] | undefined;
}

export function parseStartArgs(argv: string[]): StartArgs {
  const { values } = parseCommandArgs(
    argv,
    { only: { type: "string" }, procfile: { type: "string" } },
    USAGE,
  );
  const only = values.only
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return { procfile: values.procfile, only };
}

export interface DemoArgs {
  model: string | undefined;
  /** The simulator's port; 0 when not given (any free port). */
  simPort: number;
}

export function parseDemoArgs(argv: string[]): DemoArgs {
  const { values } = parseCommandArgs(
    argv,
    { model: { type: "string" }, "sim-port": { type: "string" } },
    DEMO_USAGE,
  );
  const given = values["sim-port"] === undefined ? 0 : Number(values["sim-port"]);
  if (!Number.isInteger(given) || given < 0 || given > 65535)
    throw new UsageError(`--sim-port must be a port number, got ${values["sim-port"]}`, DEMO_USAGE);
  const model = values.model?.trim();
  if (model === "")
    throw new UsageError(
      "--model is empty: give <provider>/<model>, e.g. --model anthropic/simulator, or leave it out",
      DEMO_USAGE,
    );
  return { model, simPort: given };
}
