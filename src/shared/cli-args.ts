/**
 * Argument parsing for every `pipbot` command: node:util parseArgs in strict mode, with one
 * UsageError that the CLI turns into the command's usage text and exit code 2.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";

export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** Thrown by a command's --help: print usage to stdout, exit 0. */
export class HelpRequested extends Error {
  constructor(readonly usage: string) {
    super("help");
    this.name = "HelpRequested";
  }
}

export type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseCommandArgs<O extends Options>(
  argv: string[],
  options: O,
  usage: string,
  { positionals = 0 }: { positionals?: number } = {},
) {
  const all = { ...options, help: { type: "boolean", short: "h" } } as O & {
    help: { type: "boolean"; short: "h" };
  };
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: typeof all; strict: true; allowPositionals: true }>
  >;
  try {
    parsed = parseArgs({ args: argv, options: all, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0] ?? "invalid arguments", usage);
  }
  if ((parsed.values as Record<string, unknown>).help) throw new HelpRequested(usage);
  if (parsed.positionals.length > positionals) {
    throw new UsageError(`unexpected argument: ${parsed.positionals[positionals]}`, usage);
  }
  return parsed;
}
