/**
 * `pipbot demo`: the supervisor in demo mode. The bundled upstream simulator runs as one more
 * supervised child (`bun src/cli.ts dev upstream-sim`, started first, stopped last), and the
 * runtime's environment points the AI server at it in direct mode, labelled as the simulator.
 * Pure functions of their inputs: main.ts picks the port, starts the supervisor and prints the text.
 */
import { relative, resolve } from "node:path";
import { PROVIDERS } from "../shared/chat-api.ts";
import { aiEnv, loadEnv } from "../shared/config/index.ts";
import type { ProcEntry } from "../shared/procfile.ts";
import { SIM_OPTION_KEYS, simModelRefusal, UNKNOWN_SIM_MODEL_PREFIXES } from "../shared/sim-model.ts";
import type { ReadinessCheck } from "./readiness.ts";

export const DEMO_MODEL = "anthropic/simulator";
/** The Procfile-style name of the simulator child (it shows as `proc` on its lines). */
export const SIM_NAME = "upstream-sim";

/** Provisioning variables the demo never passes on: it must not talk to Convex. */
const CONVEX_VARS = ["CONVEX_URL", "CONVEX_SITE_URL", "PIPBOT_SERVICE_TOKEN", "CLERK_USER_ID", "SYNC_SECRET"];

export const DEMO_USAGE = `usage: pipbot demo [--model MODEL] [--sim-port N]

Runs the AI server, sync worker and gateway locally against the bundled upstream SIMULATOR (not a
real model): replies are deterministic ("You said: <your message>." then filler words). The
simulator runs as one more supervised process ("${SIM_NAME}", started first, stopped last).
Data goes to $DATA_DIR (default ./data/demo; a relative path is relative to the repository, whose
Procfile the demo runs, wherever the demo is run from). Stop with Ctrl-C.

options:
  --model MODEL    provider/model for chats that name none, provider one of anthropic, openai,
                   google (the simulator stands in for each; default anthropic/simulator); may
                   carry simulator options, e.g. "anthropic/simulator@tokens=200,rate=20" for a
                   slow 10 s stream; a model the simulator would refuse (an id starting with
                   "unknown" or "missing", an option it does not take) is refused first
  --sim-port N     port of the simulator (default: any free port)
  -h, --help       show this help`;

export function simUrl(simPort: number): string {
  return `http://127.0.0.1:${simPort}`;
}

/** The simulator child, with its readiness check (its /healthz), to run before the Procfile's. */
export function simProcess(simPort: number): { entry: ProcEntry; check: ReadinessCheck } {
  return {
    entry: {
      name: SIM_NAME,
      command: `exec bun src/cli.ts dev upstream-sim --port ${simPort} --host 127.0.0.1`,
      line: 0,
    },
    check: { kind: "http", url: `${simUrl(simPort)}/healthz` },
  };
}

export function demoEnv(
  base: Record<string, string | undefined>,
  o: { simUrl: string; dataDir: string; token: string; model?: string | undefined },
): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...base };
  for (const k of CONVEX_VARS) delete env[k];
  delete env.OPENCLAW_GATEWAY_TOKEN;
  const aiPort = base.AI_PORT?.trim() || "3000";
  Object.assign(env, {
    DATA_DIR: o.dataDir,
    PIPBOT_SIMULATOR: "1",
    // Every provider goes to the simulator, whatever AI_UPSTREAM says (proxy needs Convex).
    AI_UPSTREAM: "direct",
    AI_DEFAULT_MODEL: o.model ?? DEMO_MODEL,
    ANTHROPIC_BASE_URL: o.simUrl,
    OPENAI_BASE_URL: `${o.simUrl}/v1`,
    GOOGLE_GEMINI_BASE_URL: o.simUrl,
    ANTHROPIC_API_KEY: "sim",
    OPENAI_API_KEY: "sim",
    GEMINI_API_KEY: "sim",
    // Local only: everything on loopback.
    AI_HOST: "127.0.0.1",
    AI_PORT: aiPort,
    AI_URL: `http://127.0.0.1:${aiPort}`,
    GATEWAY_HOST: "127.0.0.1",
    GATEWAY_PORT: base.GATEWAY_PORT?.trim() || "18789",
    CLAWDBOT_GATEWAY_TOKEN: o.token,
  });
  return env;
}

/**
 * Why the demo cannot run `model` (from --model), or undefined when it can: the model is resolved
 * exactly as the AI server resolves AI_DEFAULT_MODEL at its startup (shared/config/ai.ts), against
 * the demo's environment, where the simulator stands in for every provider. Checked before the
 * banner and before anything starts; the fix names --model, the only thing the demo user sets.
 */
export function demoModelProblem(
  base: Record<string, string | undefined>,
  model: string,
): string | undefined {
  const env = demoEnv(base, { simUrl: "http://127.0.0.1:1", dataDir: ".", token: "", model });
  const res = loadEnv(aiEnv, env);
  const problem = res.ok ? undefined : res.problems.find((p) => p.variable === "AI_DEFAULT_MODEL");
  if (!problem) return simRefusalProblem(model);
  return [
    `--model ${JSON.stringify(model)} ${problem.message}; nothing was started.`,
    `The demo's simulator stands in for ${PROVIDERS.join(", ")} (e.g. ${DEMO_MODEL}, openai/gpt-4.1-mini,`,
    `google/gemini-2.5-flash), with simulator options after @ (e.g. ${DEMO_MODEL}@tokens=200,rate=20).`,
    `Fix: pass --model <provider>/<model> with <provider> one of ${PROVIDERS.join(", ")}, or leave --model`,
    `out (${DEMO_MODEL}).`,
  ].join("\n");
}

/**
 * A --model the AI server takes but the simulator would refuse on every chat (shared/sim-model.ts,
 * the simulator's own rules): an id it answers 404, or options after `@` it answers 400. The
 * upstream id is what the AI server sends: the model without its provider prefix.
 */
function simRefusalProblem(model: string): string | undefined {
  const prefix = model.split("/")[0] ?? "";
  const upstream = (PROVIDERS as readonly string[]).includes(prefix) ? model.slice(prefix.length + 1) : model;
  const refusal = simModelRefusal(upstream);
  if (!refusal) return undefined;
  const why =
    refusal.kind === "unknown_model"
      ? `names a model the simulator answers as unknown (404: ids starting with ${UNKNOWN_SIM_MODEL_PREFIXES.map((p) => JSON.stringify(p)).join(" or ")} stand for a missing model)`
      : `has simulator options the simulator refuses (400: ${refusal.message})`;
  return [
    `--model ${JSON.stringify(model)} ${why}; nothing was started.`,
    `The simulator serves any other model id (e.g. ${DEMO_MODEL}, openai/gpt-4.1-mini), with options after @`,
    `as key=value pairs, numbers non-negative (e.g. ${DEMO_MODEL}@tokens=200,rate=20); its keys:`,
    `${SIM_OPTION_KEYS.join(", ")}.`,
    `Fix: pass another --model, or leave --model out (${DEMO_MODEL}).`,
  ].join("\n");
}

export function demoBanner(o: { simUrl: string; model: string; dataDir: string }): string {
  return [
    "",
    "┌──────────────────────────────────────────────────────────────────────────┐",
    "│ pipbot demo — running against the bundled upstream SIMULATOR.            │",
    "│ This is NOT a real model: replies are deterministic test text.           │",
    "└──────────────────────────────────────────────────────────────────────────┘",
    `  model:      ${o.model} (simulator)`,
    `  simulator:  ${o.simUrl} (process "${SIM_NAME}")`,
    `  data:       ${o.dataDir}`,
    `  starting ${SIM_NAME} → ai → sync → gateway …`,
    "",
    "",
  ].join("\n");
}

/**
 * The DATA_DIR to name in the ready message for a token kept in `dataDir`: none for ./data or
 * ./data/demo (`pipbot chat` finds the newest of those by itself), else the directory, relative
 * to `cwd` (where `./pipbot chat` runs: the repository) when it lies below it.
 */
export function chatDataDirFor(dataDir: string, cwd: string): string | undefined {
  if (dataDir === resolve(cwd, "./data") || dataDir === resolve(cwd, "./data/demo")) return undefined;
  const rel = relative(cwd, dataDir);
  return rel && !rel.startsWith("..") ? `./${rel}` : dataDir;
}

/**
 * How to chat once everything is ready. The token is never printed: `pipbot chat` reads it from
 * the environment or from `<dataDir>/gateway-token` (without DATA_DIR, the newest of ./data and
 * ./data/demo).
 */
export function readyMessage(o: {
  gatewayPort: string;
  /** Where the token is: the token file, or the variable the user set. */
  tokenSource: string;
  /** DATA_DIR to pass to `pipbot chat` when the data is neither in ./data nor ./data/demo. */
  chatDataDir?: string | undefined;
  /**
   * The gateway serves the OpenClaw Control UI at /control/ (GATEWAY_CONTROL_UI_DIR is set: a
   * directory without the bundle is refused before anything starts, so at ready time it is served).
   */
  controlUi?: boolean;
}): string {
  const url = `ws://127.0.0.1:${o.gatewayPort}`;
  const prefix = o.chatDataDir ? `DATA_DIR=${o.chatDataDir} ` : "";
  const chat = `${prefix}./pipbot chat${o.gatewayPort === "18789" ? "" : ` --url ${url}`}`;
  return [
    "",
    `pipbot demo is ready (SIMULATOR, not a real model). Gateway: ${url}`,
    `  Chat from another terminal in this repository (token: ${o.tokenSource}):`,
    `    ${chat}`,
    `  or one message:  ${chat} "hello"`,
    `  or in a browser: http://127.0.0.1:${o.gatewayPort}/ (paste the token from ${o.tokenSource})`,
    ...(o.controlUi
      ? [
          `  or the OpenClaw Control UI: http://127.0.0.1:${o.gatewayPort}/control/ (paste the token from ${o.tokenSource})`,
        ]
      : []),
    "  Stop with Ctrl-C.",
    "",
    "",
  ].join("\n");
}
