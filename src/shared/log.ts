/**
 * Logging: pino JSON lines, `proc` on every line, secrets redacted by key AND by value.
 *
 * Redaction happens in two steps: `formatters.log` redacts the structured fields by key (any
 * depth: a credential-named field is replaced whatever its value), and the destination scrubs the
 * whole serialized line by value (every secret in its raw, URL-encoded, JSON-escaped and base64
 * forms, and key-shaped strings), which covers every field's string, `msg` and anything pino adds. A pretty, coloured output is used when stdout is a terminal.
 */
import pino, { type Logger } from "pino";
import { Redactor } from "./redact.ts";

export type { Logger } from "pino";

export interface LogDestination {
  write(line: string): void;
}

export interface LoggerOptions {
  proc: string;
  level?: string;
  /** Secret values to redact wherever they appear. More can be added later with `redactor.add`. */
  secrets?: Iterable<string | undefined>;
  /** Where lines go (tests capture them here). Default: stdout, pretty when it is a TTY. */
  destination?: LogDestination;
  /** Force pretty (true) or JSON (false); default: pretty only on a TTY and when not under a supervisor. */
  pretty?: boolean;
  redactor?: Redactor;
  /** Also write every (already redacted) line here, e.g. a LogRing for the gateway's `logs.tail`. */
  tee?: LogDestination;
}

export interface PipbotLogger extends Logger {
  redactor: Redactor;
}

function stdoutDestination(pretty: boolean): LogDestination {
  if (!pretty) return { write: (line) => void process.stdout.write(line) };
  // pino-pretty is a Transform; we feed it the already-redacted lines.
  const build = require("pino-pretty") as (opts: object) => NodeJS.WritableStream;
  const stream = build({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" });
  return { write: (line) => void stream.write(line) };
}

export function createLogger(opts: LoggerOptions): PipbotLogger {
  const redactor = opts.redactor ?? new Redactor(opts.secrets ?? []);
  if (opts.secrets && opts.redactor) redactor.add(opts.secrets);
  const pretty = opts.pretty ?? (process.stdout.isTTY === true && !process.env.PIPBOT_SUPERVISED);
  const dest = opts.destination ?? stdoutDestination(pretty);
  const tee = opts.tee;
  const sink = {
    write: (line: string) => {
      const clean = redactor.string(line);
      dest.write(clean);
      tee?.write(clean);
    },
  };
  const logger = pino(
    {
      level: opts.level ?? "info",
      base: { proc: opts.proc },
      messageKey: "msg",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        // Keys here; values in the sink, which scrubs each whole line (msg and pino's own fields too).
        log: (obj) => redactor.keys(obj) as Record<string, unknown>,
      },
      serializers: { err: (e: unknown) => redactor.keys(e) },
    },
    sink,
  ) as PipbotLogger;
  logger.redactor = redactor;
  return logger;
}

/** A destination that keeps lines in memory: for tests and for `pipbot check`. */
export function memoryDestination(): LogDestination & {
  lines: string[];
  records(): Record<string, unknown>[];
} {
  const lines: string[] = [];
  return {
    lines,
    write: (line) => void lines.push(line),
    records: () => lines.flatMap((l) => l.split("\n").filter(Boolean)).map((l) => JSON.parse(l)),
  };
}
