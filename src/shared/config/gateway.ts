/** Gateway variables. The gateway helper module owns the tuning knobs at the bottom. */
import { existsSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { commonVars, convexVars } from "./common.ts";
import {
  defineEnv,
  envVar,
  host,
  httpUrl,
  intBetween,
  port,
  positiveInt,
  secret,
  tokenRequiredOffLoopback,
} from "./env.ts";

export const gatewayEnv = defineEnv(
  "gateway",
  {
    ...commonVars,
    GATEWAY_HOST: envVar(host("127.0.0.1"), {
      doc: "Address the gateway binds (0.0.0.0 or :: on Fly; any non-loopback bind requires a token).",
      fix: "set GATEWAY_HOST to 127.0.0.1 locally or 0.0.0.0 / :: behind Fly's proxy",
    }),
    GATEWAY_PORT: envVar(port(18789), {
      doc: "Gateway port (WebSocket + /healthz + /readyz).",
      fix: "set GATEWAY_PORT to a free TCP port, e.g. 18789",
    }),
    CLAWDBOT_GATEWAY_TOKEN: envVar(secret(8), {
      doc: "Token chat clients present in `connect` (alias OPENCLAW_GATEWAY_TOKEN). Unset on loopback: a generated one is kept in DATA_DIR/gateway-token (mode 0600) and reused across restarts; required on any other bind.",
      fix: "set CLAWDBOT_GATEWAY_TOKEN to a random string of at least 8 characters, e.g. `openssl rand -hex 24`",
      secret: true,
      aliases: ["OPENCLAW_GATEWAY_TOKEN"],
    }),
    AI_URL: envVar(httpUrl().default("http://127.0.0.1:3000"), {
      doc: "Where the gateway reaches the AI server.",
      fix: "set AI_URL to the AI server's base URL, e.g. http://127.0.0.1:3000 or https://<app>.fly.dev",
    }),
    AI_SERVER_TOKEN: envVar(secret(16), {
      doc: "Bearer token for the AI server; required when the AI server binds a non-loopback address (separate deployment).",
      fix: "set AI_SERVER_TOKEN to the same random string (≥ 16 characters) on the AI server and the gateway",
      secret: true,
    }),
    // The VM's proxy-v1 identity, sent to the AI server as x-pipbot-user-id / x-pipbot-service-token
    // (separate deployment: the shared AI app bills each call to the calling VM). Same definitions
    // as the AI server's and the sync worker's, so the docs stay one.
    CLERK_USER_ID: convexVars.CLERK_USER_ID,
    PIPBOT_SERVICE_TOKEN: convexVars.PIPBOT_SERVICE_TOKEN,
    AI_DEFAULT_MODEL: envVar(z.string().optional(), {
      doc: "Model the gateway asks for (e.g. anthropic/claude-sonnet-4-5). Unset: the AI server's default.",
      fix: "set AI_DEFAULT_MODEL to provider/model, e.g. openai/gpt-4.1-mini",
    }),
    SYNC_STATUS_PORT: envVar(port(18790), {
      doc: "Loopback port of the sync worker's status endpoint (read by the gateway's health method).",
      fix: "set SYNC_STATUS_PORT to a free TCP port, e.g. 18790",
    }),
    GATEWAY_DELTA_WINDOW_MS: envVar(positiveInt(30), {
      doc: "Chat delta coalescing window (the first delta is sent at once).",
      fix: "set GATEWAY_DELTA_WINDOW_MS to milliseconds, e.g. 30",
    }),
    GATEWAY_CONTEXT_BUDGET_CHARS: envVar(positiveInt(400_000), {
      doc: "How much history (characters) a run sends to the model; the oldest whole turns are dropped first.",
      fix: "set GATEWAY_CONTEXT_BUDGET_CHARS to a positive number, e.g. 400000",
    }),
    GATEWAY_RUN_TIMEOUT_MS: envVar(positiveInt(600_000), {
      doc: "Longest a chat run may take before it ends as an error (timeout).",
      fix: "set GATEWAY_RUN_TIMEOUT_MS to milliseconds, e.g. 600000",
    }),
    GATEWAY_AI_WAIT_MS: envVar(intBetween(10_000, 0, 600_000), {
      doc: "How long a chat run waits for an unreachable (restarting) AI server before it ends as a retryable error; 0: no wait.",
      fix: "set GATEWAY_AI_WAIT_MS to milliseconds between 0 and 600000, e.g. 10000",
    }),
    GATEWAY_HANDSHAKE_TIMEOUT_MS: envVar(intBetween(10_000, 100, 60_000), {
      doc: "How long a new WebSocket may take to complete the `connect` handshake before it is closed.",
      fix: "set GATEWAY_HANDSHAKE_TIMEOUT_MS to milliseconds between 100 and 60000, e.g. 10000",
    }),
    GATEWAY_MAX_BUFFERED_BYTES: envVar(positiveInt(2 * 1024 * 1024), {
      doc: 'Per-connection send buffer limit (advertised as policy.maxBufferedBytes): above it ticks and chat deltas are dropped, other frames close the socket 1008 "slow consumer".',
      fix: "set GATEWAY_MAX_BUFFERED_BYTES to bytes, e.g. 2097152",
    }),
    // Checked here, so `pipbot check`, `pipbot start`/`demo` and the gateway itself refuse a
    // directory without the bundle in one message (the gateway would otherwise fail as it starts).
    GATEWAY_CONTROL_UI_DIR: envVar(
      z
        .string()
        .min(1)
        .optional()
        .refine((dir) => dir === undefined || existsSync(join(resolve(dir), "index.html")), {
          message: "has no index.html: it is not the Control UI bundle (openclaw's dist/control-ui)",
        }),
      {
        doc: "A directory holding the OpenClaw Control UI bundle (npm `openclaw`, dist/control-ui): served at /control/ from the gateway's origin. A relative path is relative to the gateway's working directory: under `pipbot start`/`demo` (and for `pipbot check`) the Procfile's directory, wherever the command is run from. Unset: not served. A directory without index.html is a configuration error.",
        fix: "set GATEWAY_CONTROL_UI_DIR to the dist/control-ui directory of an installed `openclaw` package, or unset it",
      },
    ),
    GATEWAY_AUTH_MAX_FAILURES: envVar(positiveInt(10), {
      doc: "Failed `connect` auth attempts allowed per client address per minute (sliding) before AUTH_RATE_LIMITED.",
      fix: "set GATEWAY_AUTH_MAX_FAILURES to a positive number, e.g. 10",
    }),
  },
  tokenRequiredOffLoopback(
    "GATEWAY_HOST",
    "CLAWDBOT_GATEWAY_TOKEN",
    "set CLAWDBOT_GATEWAY_TOKEN (≥ 8 characters), or bind GATEWAY_HOST=127.0.0.1",
  ),
  // The identity forwarded to the AI server: both or neither (the AI server refuses one alone).
  (v) => {
    if (Boolean(v.CLERK_USER_ID) === Boolean(v.PIPBOT_SERVICE_TOKEN)) return [];
    const [missing, other] = v.CLERK_USER_ID
      ? ["PIPBOT_SERVICE_TOKEN", "CLERK_USER_ID"]
      : ["CLERK_USER_ID", "PIPBOT_SERVICE_TOKEN"];
    return [
      {
        variable: missing,
        message: `is required because ${other} is set (the gateway forwards both to the AI server as the VM's identity, or neither)`,
        fix: `set ${missing} from provisioning, or unset ${other}`,
      },
    ];
  },
);

/**
 * The one resolution rule for GATEWAY_CONTROL_UI_DIR: a relative path is relative to the directory
 * the gateway runs in. The supervisor runs its children in the Procfile's directory, so it (and
 * `pipbot check`, which checks what the supervisor would start) makes the path absolute against
 * that directory once, before validating, and hands the absolute path to the gateway. The gateway
 * run alone resolves it against its own working directory, which is the same rule.
 */
export function withControlUiDirFrom<E extends Record<string, string | undefined>>(
  env: E,
  childCwd: string,
): E {
  const dir = env.GATEWAY_CONTROL_UI_DIR?.trim();
  if (!dir || isAbsolute(dir)) return env;
  return { ...env, GATEWAY_CONTROL_UI_DIR: resolve(childCwd, dir) };
}
