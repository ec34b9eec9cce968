/**
 * What `pipbot demo` sets up: the runtime's environment pointed at the simulator, and the text it
 * prints. Pure functions (main.ts starts the simulator and the supervisor).
 */

export const DEMO_MODEL = "anthropic/simulator";

/** Provisioning variables the demo never passes on: it must not talk to Convex. */
const CONVEX_VARS = ["CONVEX_URL", "CONVEX_SITE_URL", "PIPBOT_SERVICE_TOKEN", "CLERK_USER_ID", "SYNC_SECRET"];

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

export function demoBanner(o: { simUrl: string; model: string; dataDir: string }): string {
  return [
    "",
    "┌──────────────────────────────────────────────────────────────────────────┐",
    "│ pipbot demo — running against the bundled upstream SIMULATOR.            │",
    "│ This is NOT a real model: replies are deterministic test text.           │",
    "└──────────────────────────────────────────────────────────────────────────┘",
    `  model:      ${o.model} (simulator)`,
    `  simulator:  ${o.simUrl}`,
    `  data:       ${o.dataDir}`,
    "  starting ai → sync → gateway …",
    "",
    "",
  ].join("\n");
}

export function readyMessage(o: { gatewayPort: string; token: string }): string {
  const url = `ws://127.0.0.1:${o.gatewayPort}`;
  return [
    "",
    `pipbot demo is ready (SIMULATOR, not a real model). Gateway: ${url}`,
    "  Chat in this repository with:",
    `    bun src/cli.ts chat --url ${url} --token ${o.token}`,
    `  or one message:  bun src/cli.ts chat --url ${url} --token ${o.token} "hello"`,
    "  Stop with Ctrl-C.",
    "",
    "",
  ].join("\n");
}
