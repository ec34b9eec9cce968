/**
 * Variables every process reads: where data lives, how much to log, and the machine identity
 * the platform (Fly.io) and provisioning set. Provisioning variables are those of
 * shared/specs/convex-contracts.md.
 */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { type EnvValues, envVar, httpUrl, optionalString, secret } from "./env.ts";

/** DATA_DIR when unset. */
export const DEFAULT_DATA_DIR = "./data";

export const commonVars = {
  DATA_DIR: envVar(z.string().default(DEFAULT_DATA_DIR), {
    doc: "Directory for the SQLite store, the generated gateway token and the supervisor's lock and status file (the Fly volume in production). A relative path is relative to the processes' working directory: under `pipbot start`/`up`/`demo` (and for `pipbot check` and `pipbot status`) the Procfile's directory, the repository's for the demo (default ./data/demo there), wherever the command is run from; the supervisor hands every process the absolute path.",
    fix: "set DATA_DIR to a writable directory, e.g. ./data locally or /data on Fly",
  }),
  LOG_LEVEL: envVar(
    z
      .enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"], {
        message: "must be one of trace, debug, info, warn, error, fatal, silent",
      })
      .default("info"),
    {
      doc: "Log level: trace, debug, info, warn, error, fatal or silent.",
      fix: "set LOG_LEVEL to one of trace, debug, info, warn, error, fatal, silent",
    },
  ),
  PIPBOT_MODE: envVar(
    z.enum(["integrated", "separate"], { message: "must be integrated or separate" }).default("integrated"),
    {
      doc: "Deployment mode shown in the identity line: integrated (one machine runs all three) or separate.",
      fix: "set PIPBOT_MODE to integrated or separate",
    },
  ),
  FLY_APP_NAME: envVar(optionalString(), { doc: "Set by Fly: the app name.", fix: "leave unset locally" }),
  FLY_MACHINE_ID: envVar(optionalString(), {
    doc: "Set by Fly: the machine id (sent to Convex as x-pipbot-machine-id).",
    fix: "leave unset locally",
  }),
  FLY_REGION: envVar(optionalString(), { doc: "Set by Fly: the region.", fix: "leave unset locally" }),
  FLY_IMAGE_REF: envVar(optionalString(), {
    doc: "Set by Fly: the image the machine runs (logged in the identity line).",
    fix: "leave unset locally",
  }),
};

export const convexVars = {
  CONVEX_URL: envVar(
    httpUrl()
      .refine((v) => /^https?:\/\//.test(v), "must be a URL")
      .optional(),
    {
      doc: "Convex deployment, https://<name>.convex.cloud. With PIPBOT_SERVICE_TOKEN and CLERK_USER_ID it switches the AI server to the usage proxy.",
      fix: "set CONVEX_URL to https://<deployment>.convex.cloud, or unset it to run without Convex",
    },
  ),
  CONVEX_SITE_URL: envVar(httpUrl().optional(), {
    doc: "Convex HTTP-actions host. Default: CONVEX_URL with .convex.cloud replaced by .convex.site.",
    fix: "set CONVEX_SITE_URL to https://<deployment>.convex.site, or unset it",
  }),
  PIPBOT_SERVICE_TOKEN: envVar(secret(8), {
    doc: "Per-VM secret accepted by the Convex usage proxy and sync endpoints. The gateway forwards it (with CLERK_USER_ID, both or neither) to the AI server as the VM's identity (separate deployment).",
    fix: "set PIPBOT_SERVICE_TOKEN to the token issued by provisioning (at least 8 characters)",
    secret: true,
  }),
  CLERK_USER_ID: envVar(optionalString(), {
    doc: "The user this VM belongs to (usage attribution, sync). The gateway forwards it (with PIPBOT_SERVICE_TOKEN, both or neither) to the AI server as the VM's identity (separate deployment).",
    fix: "set CLERK_USER_ID to the user's Clerk id, e.g. user_2abc…",
  }),
  SYNC_SECRET: envVar(secret(16), {
    doc: "HMAC-SHA256 key for signing sync pushes (sync-v1).",
    fix: "set SYNC_SECRET to the secret issued by provisioning (at least 16 characters)",
    secret: true,
  }),
};

/** The HTTP-actions host, from CONVEX_SITE_URL or derived from CONVEX_URL. */
export function convexSiteUrl(v: Partial<EnvValues<typeof convexVars>>): string | undefined {
  if (v.CONVEX_SITE_URL) return v.CONVEX_SITE_URL;
  if (!v.CONVEX_URL) return undefined;
  return v.CONVEX_URL.replace(/\.convex\.cloud$/, ".convex.site");
}

/**
 * The one resolution rule for DATA_DIR: a relative path (the default ./data included) is relative
 * to the directory the processes run in. The supervisor runs its children in the Procfile's
 * directory, so it makes DATA_DIR absolute against that directory once, before taking its lock and
 * writing its status file, and hands the absolute path to every child (one store, one lock);
 * `pipbot check` and `pipbot status` apply the same rule to their --procfile / $PROCFILE. A process
 * run alone resolves it against its own working directory, which is the same rule.
 */
/**
 * The Procfile a command means (absolute): its `--procfile`, else $PROCFILE, else ./Procfile. Its
 * directory is where the supervisor runs its children, so where a relative DATA_DIR lies
 * (withDataDirFrom): what `pipbot status` and `pipbot chat` resolve their --procfile with.
 */
export function procfilePathFrom(flag: string | undefined, env: Record<string, string | undefined>): string {
  return resolve(flag ?? (env.PROCFILE?.trim() || "Procfile"));
}

export function withDataDirFrom<E extends Record<string, string | undefined>>(env: E, childCwd: string): E {
  const dir = env.DATA_DIR?.trim() || DEFAULT_DATA_DIR;
  if (isAbsolute(dir) && dir === env.DATA_DIR) return env;
  return { ...env, DATA_DIR: resolve(childCwd, dir) };
}
