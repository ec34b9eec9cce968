/**
 * Secret redaction, by key and by value. Used by the logger (every line), by `pipbot check`
 * (effective configuration) and by error messages that quote upstream responses.
 *
 * By key: any property whose name looks like a credential is replaced, at any depth.
 * By value: every known secret value (and its URL-encoded, base64 and JSON-escaped forms) is
 * replaced wherever it appears inside a string, and so are strings shaped like provider keys or
 * bearer credentials even when we were not told about them.
 */

export const REDACTED = "[REDACTED]";

// `token` only in the singular: `tokens`, `input_tokens`, `max_tokens` are counts, not credentials.
const SECRET_KEY =
  /(^|[_\-.])(token|(?:secret|password|passwd|api[_-]?key|apikey|authorization|signature|cookie|set-cookie|x-api-key|x-goog-api-key|x-pipbot-service-token|x-pipbot-signature|credential|private[_-]?key)s?)$/i;

const SECRET_PATTERNS: RegExp[] = [
  /sk-ant-[A-Za-z0-9_-]{8,}/g,
  /sk-(?:proj-)?[A-Za-z0-9_-]{20,}/g,
  /AIza[0-9A-Za-z_-]{30,}/g,
  /(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi,
  /([?&#](?:token|key|api_key|apikey|access_token|auth)=)[^&#\s"']+/gi,
];

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

function variants(secret: string): string[] {
  const out = new Set<string>([secret]);
  out.add(encodeURIComponent(secret));
  out.add(JSON.stringify(secret).slice(1, -1));
  out.add(Buffer.from(secret).toString("base64"));
  out.add(Buffer.from(secret).toString("base64url"));
  return [...out].filter((v) => v.length >= 4);
}

export class Redactor {
  private values: string[] = [];

  constructor(secrets: Iterable<string | undefined> = []) {
    this.add(secrets);
  }

  /** Register more secret values (e.g. a token generated at startup). Values under 4 chars are ignored. */
  add(secrets: Iterable<string | undefined>): void {
    const set = new Set(this.values);
    for (const s of secrets) {
      if (typeof s === "string" && s.length >= 4) for (const v of variants(s)) set.add(v);
    }
    // Longest first so that a secret containing another is replaced whole.
    this.values = [...set].sort((a, b) => b.length - a.length);
  }

  /** Redact secret values and credential-shaped substrings inside a string. */
  string(input: string): string {
    let out = input;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join(REDACTED);
    for (const re of SECRET_PATTERNS) {
      re.lastIndex = 0;
      if (re.test(out)) {
        re.lastIndex = 0;
        out = out.replace(re, (m, p1: string | undefined) => {
          if (p1 && /^[?&#]/.test(p1)) return `${p1}${REDACTED}`;
          if (p1 && /^(bearer|basic)$/i.test(p1)) return `${p1} ${REDACTED}`;
          return m.startsWith("Bearer") || m.startsWith("Basic") ? REDACTED : REDACTED;
        });
      }
    }
    return out;
  }

  /** Deep copy of `value` with credential keys and secret values redacted. Handles cycles and Errors. */
  value(value: unknown): unknown {
    return this.walk(value, new WeakSet<object>(), true);
  }

  /**
   * Deep copy of `value` with credential keys redacted; strings are left for the caller to scrub.
   * Only for output whose serialized form goes through `string()` whole (the logger scrubs each
   * line, which also holds every value's JSON-escaped form): scanning each string field too
   * doubled the redaction work per log line.
   */
  keys(value: unknown): unknown {
    return this.walk(value, new WeakSet<object>(), false);
  }

  private walk(value: unknown, seen: WeakSet<object>, strings: boolean): unknown {
    if (typeof value === "string") return strings ? this.string(value) : value;
    if (value === null || typeof value !== "object") return value;
    if (seen.has(value)) return "[Circular]";
    seen.add(value);
    const str = (s: string) => (strings ? this.string(s) : s);
    if (value instanceof Error) {
      const out: Record<string, unknown> = {
        type: value.name,
        message: str(value.message),
      };
      if (value.stack) out.stack = str(value.stack);
      for (const [k, v] of Object.entries(value))
        out[k] = isSecretKey(k) ? REDACTED : this.walk(v, seen, strings);
      return out;
    }
    if (value instanceof Headers) {
      const out: Record<string, unknown> = {};
      value.forEach((v, k) => {
        out[k] = isSecretKey(k) ? REDACTED : str(v);
      });
      return out;
    }
    if (Array.isArray(value)) return value.map((v) => this.walk(v, seen, strings));
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[k];
      out[k] =
        isSecretKey(k) && v !== undefined && v !== null && v !== "" ? REDACTED : this.walk(v, seen, strings);
    }
    return out;
  }
}
