/**
 * Environment-variable schemas. Each process declares its variables with `envVar` (a zod schema
 * plus what an operator needs to know: what it is, how to fix a bad value, whether it is secret)
 * and combines them with `defineEnv`. `loadEnv` checks EVERY variable and cross-rule and returns
 * all problems at once; `formatProblems` turns them into the one startup message.
 */
import { z } from "zod";
import { REDACTED } from "../redact.ts";

export interface EnvVarMeta {
  /** What the variable is, one line (README and `pipbot check`). */
  doc: string;
  /** How to fix a bad value, one line. */
  fix: string;
  secret?: boolean;
  /** Other names accepted for the same value, checked in order after the main name. */
  aliases?: string[];
}

export interface EnvVar<S extends z.ZodType = z.ZodType> {
  schema: S;
  meta: EnvVarMeta;
}

export function envVar<S extends z.ZodType>(schema: S, meta: EnvVarMeta): EnvVar<S> {
  return { schema, meta };
}

export type EnvVars = Record<string, EnvVar>;
export type EnvValues<V extends EnvVars> = { [K in keyof V]: z.output<V[K]["schema"]> };

export interface Problem {
  variable: string;
  /** The offending value as given (redacted for secrets), or undefined when missing. */
  value?: string;
  message: string;
  fix: string;
}

/**
 * A rule across variables (e.g. a public bind needs a token). Declared in method form so that it is
 * checked bivariantly: any process's EnvDefinition is then an EnvDefinition<EnvVars>, and code that
 * walks every process (the supervisor's fail-fast check, `pipbot check`) needs no cast.
 */
type EnvRule<V extends EnvVars> = { check(values: EnvValues<V>): Problem[] }["check"];

export interface EnvDefinition<V extends EnvVars> {
  proc: string;
  vars: V;
  rules: EnvRule<V>[];
}

export function defineEnv<V extends EnvVars>(
  proc: string,
  vars: V,
  ...rules: ((values: EnvValues<V>) => Problem[])[]
): EnvDefinition<V> {
  return { proc, vars, rules };
}

export type Env = Record<string, string | undefined>;

/** The raw value of a variable: its name first, then its aliases. Empty strings count as unset. */
export function rawValue(
  env: Env,
  name: string,
  meta: EnvVarMeta,
): { from: string; value: string } | undefined {
  for (const n of [name, ...(meta.aliases ?? [])]) {
    const v = env[n];
    if (v !== undefined && v.trim() !== "") return { from: n, value: v.trim() };
  }
  return undefined;
}

export type LoadResult<V extends EnvVars> =
  | { ok: true; config: EnvValues<V> }
  | { ok: false; problems: Problem[]; partial: Partial<EnvValues<V>> };

export function loadEnv<V extends EnvVars>(def: EnvDefinition<V>, env: Env): LoadResult<V> {
  const problems: Problem[] = [];
  const values: Record<string, unknown> = {};
  for (const [name, { schema, meta }] of Object.entries(def.vars)) {
    const raw = rawValue(env, name, meta);
    const parsed = schema.safeParse(raw?.value);
    if (parsed.success) {
      values[name] = parsed.data;
    } else {
      const issue = parsed.error.issues[0];
      const missing = raw === undefined;
      problems.push({
        variable: raw?.from ?? name,
        ...(raw ? { value: meta.secret ? REDACTED : raw.value } : {}),
        message: missing ? "is required but not set" : (issue?.message ?? "is invalid"),
        fix: meta.fix,
      });
    }
  }
  if (problems.length === 0) {
    for (const rule of def.rules) problems.push(...rule(values as EnvValues<V>));
  }
  if (problems.length > 0) return { ok: false, problems, partial: values as Partial<EnvValues<V>> };
  return { ok: true, config: values as EnvValues<V> };
}

export function formatProblems(proc: string, problems: Problem[]): string {
  const lines = [
    `pipbot ${proc}: invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):`,
  ];
  for (const p of problems) {
    const shown = p.value === undefined ? "" : `=${JSON.stringify(p.value)}`;
    lines.push(`  - ${p.variable}${shown}: ${p.message}. Fix: ${p.fix}`);
  }
  lines.push("Run `pipbot check` to see the effective configuration of every process.");
  return lines.join("\n");
}

/** The effective configuration for display: secrets shown as set/unset only. */
export function describeEnv<V extends EnvVars>(
  def: EnvDefinition<V>,
  values: Partial<EnvValues<V>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, { meta }] of Object.entries(def.vars)) {
    const v = (values as Record<string, unknown>)[name];
    if (meta.secret) out[name] = v === undefined || v === "" ? "(unset)" : REDACTED;
    else out[name] = v === undefined ? "(unset)" : v;
  }
  return out;
}

// ---- reusable schemas -------------------------------------------------------------------------

export const port = (def: number) =>
  z.coerce
    .number({ message: "must be a number" })
    .int("must be a whole number")
    .min(0, "must be between 0 and 65535")
    .max(65535, "must be between 0 and 65535")
    .default(def);

export const host = (def: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9.:[\]%_-]+$/, "must be a host name or IP address such as 127.0.0.1 or ::")
    .default(def);

export const positiveInt = (def: number, what = "a positive whole number") =>
  z.coerce
    .number({ message: `must be ${what}` })
    .int(`must be ${what}`)
    .positive(`must be ${what}`)
    .default(def);

/** A whole number in [min, max], with a default. */
export const intBetween = (def: number, min: number, max: number) =>
  z.coerce
    .number({ message: `must be a whole number between ${min} and ${max}` })
    .int(`must be a whole number between ${min} and ${max}`)
    .min(min, `must be a whole number between ${min} and ${max}`)
    .max(max, `must be a whole number between ${min} and ${max}`)
    .default(def);

export const nonNegativeInt = (def: number) =>
  z.coerce
    .number({ message: "must be a whole number ≥ 0" })
    .int("must be a whole number ≥ 0")
    .min(0, "must be a whole number ≥ 0")
    .default(def);

export const httpUrl = () =>
  z
    .string()
    .refine((v) => {
      try {
        const u = new URL(v);
        return u.protocol === "http:" || u.protocol === "https:";
      } catch {
        return false;
      }
    }, "must be an http:// or https:// URL")
    .transform((v) => v.replace(/\/+$/, ""));

export const optionalString = () => z.string().optional();
export const secret = (minLength = 1) =>
  z.string().min(minLength, `must be at least ${minLength} characters`).optional();

export const bool = (def: boolean) =>
  z
    .enum(["1", "0", "true", "false", "yes", "no", "on", "off"], {
      message: "must be true or false",
    })
    .optional()
    .transform((v) => (v === undefined ? def : ["1", "true", "yes", "on"].includes(v)));

/** A loopback host or address: localhost, ::1, 127.x.x.x, and 127.x.x.x as an IPv4-mapped IPv6 address. */
export function isLoopbackHost(h: string): boolean {
  const x = h
    .replace(/^\[|\]$/g, "")
    .toLowerCase()
    .replace(/^::ffff:(?=\d+\.)/, "");
  return x === "localhost" || x === "::1" || /^127\.\d+\.\d+\.\d+$/.test(x);
}

/**
 * Where to reach a server bound to `host`: a wildcard bind (0.0.0.0, ::) is reached on loopback;
 * an IPv6 literal is bracketed for a URL. Used by the supervisor's readiness and `pipbot status`.
 */
export function reachableHost(host: string): string {
  const h = host.replace(/^\[|\]$/g, "");
  if (h === "0.0.0.0" || h === "::" || h === "") return "127.0.0.1";
  return h.includes(":") ? `[${h}]` : h;
}

/**
 * A rule for `defineEnv`: binding `hostVar` to a non-loopback address requires `tokenVar`
 * (`fix` says how to set the token or bind loopback).
 */
export function tokenRequiredOffLoopback(
  hostVar: string,
  tokenVar: string,
  fix: string,
): (values: Record<string, unknown>) => Problem[] {
  return (v) => {
    const h = String(v[hostVar] ?? "");
    if (isLoopbackHost(h) || v[tokenVar]) return [];
    return [
      { variable: tokenVar, message: `is required when ${hostVar} (${h}) is not a loopback address`, fix },
    ];
  };
}
