/**
 * Child output: line buffering and tagging. Each child's stdout/stderr is cut into lines (partial
 * lines are held until their newline, flushed on exit); a line longer than `maxLineChars` is cut
 * into pieces marked `"part"` so nothing is lost and memory stays bounded. Each line is then tagged
 * with the child's name: a JSON object stays valid JSON (with `"proc"` added if absent); any other
 * line is wrapped in a JSON line. On a terminal, lines get a coloured `name | ` prefix instead.
 * Given a Redactor, a JSON line with a credential-named field (`token`, `authorization`, …) is
 * re-serialized with that field redacted; the caller redacts secret values in the final text.
 */
import { isSecretKey, REDACTED, type Redactor } from "../shared/redact.ts";

export type StreamName = "stdout" | "stderr";

export const MAX_LINE_CHARS = 64 * 1024;

export interface Line {
  text: string;
  /** Set when a line longer than the limit was cut: 1, 2, … and `last` on the final piece. */
  part?: { index: number; last: boolean };
}

/** Incremental decoder: feed chunks, get complete lines; `flush()` returns the held partial line. */
export class LineSplitter {
  private buf = "";
  private decoder = new TextDecoder();
  /** Pieces already emitted for the current over-long line (0 = none). */
  private parts = 0;

  constructor(private readonly maxLineChars = MAX_LINE_CHARS) {}

  push(chunk: Uint8Array | string): Line[] {
    this.buf += typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    const out: Line[] = [];
    for (;;) {
      const nl = this.buf.indexOf("\n");
      if (nl >= 0 && nl <= this.maxLineChars) {
        const text = this.buf.slice(0, nl).replace(/\r$/, "");
        this.buf = this.buf.slice(nl + 1);
        out.push(this.finish(text));
        continue;
      }
      if (this.buf.length > this.maxLineChars) {
        this.parts++;
        out.push({ text: this.buf.slice(0, this.maxLineChars), part: { index: this.parts, last: false } });
        this.buf = this.buf.slice(this.maxLineChars);
        continue;
      }
      return out;
    }
  }

  /** The held partial line (if any), e.g. when the child exits without a final newline. */
  flush(): Line[] {
    this.buf += this.decoder.decode();
    if (this.buf === "" && this.parts === 0) return [];
    const line = this.finish(this.buf);
    this.buf = "";
    return [line];
  }

  private finish(text: string): Line {
    if (this.parts === 0) return { text };
    const line = { text, part: { index: this.parts + 1, last: true } };
    this.parts = 0;
    return line;
  }
}

/** True when a parsed JSON value has a credential-named field with a value, at any depth. */
export function hasSecretField(v: unknown, depth = 0): boolean {
  if (!v || typeof v !== "object" || depth > 32) return false;
  if (Array.isArray(v)) return v.some((x) => hasSecretField(x, depth + 1));
  for (const [k, x] of Object.entries(v)) {
    if (isSecretKey(k) && x !== null && x !== "" && x !== REDACTED) return true;
    if (hasSecretField(x, depth + 1)) return true;
  }
  return false;
}

/** A child's raw line with credential-named JSON fields and secret values redacted (for quoting). */
export function scrubLine(text: string, redactor: Redactor): string {
  if (text.startsWith("{") && text.endsWith("}")) {
    try {
      const obj = JSON.parse(text) as unknown;
      if (hasSecretField(obj)) return redactor.string(JSON.stringify(redactor.value(obj)));
    } catch {
      // not JSON
    }
  }
  return redactor.string(text);
}

/** One child output line as a JSON log line (no trailing newline). */
export function tagLine(
  proc: string,
  stream: StreamName,
  line: Line,
  now: Date,
  redactor?: Redactor,
): string {
  const t = line.text;
  if (!line.part && t.startsWith("{") && t.endsWith("}")) {
    try {
      const obj = JSON.parse(t) as unknown;
      if (obj && typeof obj === "object" && !Array.isArray(obj)) {
        if (redactor && hasSecretField(obj)) {
          const clean = redactor.value(obj) as Record<string, unknown>;
          return JSON.stringify("proc" in clean ? clean : { proc, ...clean });
        }
        if ("proc" in obj) return t;
        const rest = t.slice(1).trimStart();
        return rest === "}" ? `{"proc":${JSON.stringify(proc)}}` : `{"proc":${JSON.stringify(proc)},${rest}`;
      }
    } catch {
      // not JSON after all: wrap it below
    }
  }
  const rec: Record<string, unknown> = {
    level: stream === "stderr" ? "error" : "info",
    time: now.toISOString(),
    proc,
    stream,
    msg: t,
  };
  if (line.part) rec.part = line.part.index;
  if (line.part?.last) rec.lastPart = true;
  return JSON.stringify(rec);
}

const COLOURS = [36, 33, 32, 35, 34, 31, 96, 93, 92, 95];

/** The fields a terminal line shows after the message, in this order (the rest are counted). */
export const KEY_FIELDS = [
  "child",
  "pid",
  "code",
  "signal",
  "action",
  "nextDelayMs",
  "restarts",
  "runId",
  "state",
  "status",
  "durationMs",
  "readyMs",
  "port",
  "url",
  "reason",
  "error",
  "err",
] as const;
const MAX_FIELDS = 5;
const MAX_VALUE_CHARS = 80;
const SKIP = new Set(["level", "time", "msg", "proc", "hostname", "pid", "event"]);

function fieldValue(v: unknown): string {
  const x = v && typeof v === "object" && "message" in v && typeof v.message === "string" ? v.message : v;
  const t =
    typeof x === "string" ? (/[\s"=]/.test(x) ? JSON.stringify(x) : x) : (JSON.stringify(x) ?? String(x));
  return t.length > MAX_VALUE_CHARS ? `${t.slice(0, MAX_VALUE_CHARS - 1)}…` : t;
}

/** `HH:MM:SS.mmm` (UTC) of a pino `time` (epoch ms or ISO), else of `now`. */
function clock(time: unknown, now: Date): string {
  const d = typeof time === "number" || typeof time === "string" ? new Date(time) : now;
  return (Number.isNaN(d.getTime()) ? now : d).toISOString().slice(11, 23);
}

/**
 * Terminal form: `HH:MM:SS.mmm name | level msg key=value …`, the name coloured and padded. A JSON
 * line shows its message and at most a few key fields (KEY_FIELDS first, values cut at 80
 * characters, `+N` for the fields left out) instead of a wrapped JSON tail; other lines as they are.
 */
export function prettyLine(
  proc: string,
  stream: StreamName,
  line: Line,
  colourIndex: number,
  width: number,
  redactor?: Redactor,
  now: Date = new Date(),
): string {
  const c = COLOURS[colourIndex % COLOURS.length];
  let time = clock(undefined, now);
  let body = line.text;
  if (!line.part && body.startsWith("{")) {
    try {
      const parsed = JSON.parse(body) as Record<string, unknown>;
      const obj = redactor && hasSecretField(parsed) ? (redactor.value(parsed) as typeof parsed) : parsed;
      time = clock(obj.time, now);
      const keys = [
        ...KEY_FIELDS.filter((k) => k in obj && obj[k] !== null && obj[k] !== undefined),
        ...Object.keys(obj).filter(
          (k) => !SKIP.has(k) && !(KEY_FIELDS as readonly string[]).includes(k) && obj[k] !== null,
        ),
      ];
      const shown = keys.slice(0, MAX_FIELDS).map((k) => `${k}=${fieldValue(obj[k])}`);
      const more = keys.length > MAX_FIELDS ? ` +${keys.length - MAX_FIELDS}` : "";
      const level = String(obj.level ?? "info");
      body = `${level} ${String(obj.msg ?? "")}${shown.length ? ` \x1b[2m${shown.join(" ")}${more}\x1b[0m` : ""}`;
    } catch {
      // plain line
    }
  }
  if (line.part) body += ` [part ${line.part.index}${line.part.last ? ", last" : ""}]`;
  if (stream === "stderr") body = `\x1b[31m${body}\x1b[0m`;
  return `\x1b[2m${time}\x1b[0m \x1b[${c}m${proc.padEnd(width)} |\x1b[0m ${body}`;
}

/**
 * How the supervisor's console shows lines: on a terminal, `name | level msg` for its own lines
 * and each child's (coloured by the child's place in `names`); otherwise its own lines as they
 * are (JSON) and each child's tagged as a JSON line.
 */
export function consoleFormat(tty: boolean, names: string[]) {
  const width = Math.max("supervisor".length, ...names.map((n) => n.length));
  return {
    own: (text: string): string =>
      tty ? prettyLine("supervisor", "stdout", { text }, names.length, width) : text,
    child: (proc: string, stream: StreamName, line: Line, redactor: Redactor): string =>
      tty
        ? prettyLine(proc, stream, line, names.indexOf(proc), width, redactor)
        : tagLine(proc, stream, line, new Date(), redactor),
  };
}
