/**
 * `pipbot demo`: the whole runtime on this machine against the bundled upstream simulator — no
 * keys, no network. Starts the simulator in this process, points the AI server at it in direct
 * mode (PIPBOT_SIMULATOR=1, model anthropic/simulator), runs the supervisor in-process on the real
 * Procfile with DATA_DIR=./data/demo, prints how to chat, and stops the simulator last.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { startUpstreamSim } from "../dev/upstream-sim.ts";
import { parseCommandArgs } from "../shared/cli-args.ts";
import { ROOT_DIR } from "../shared/identity.ts";
import { supervise } from "../supervisor/main.ts";
import { demoBanner, demoEnv, readyMessage } from "./setup.ts";

const USAGE = `usage: pipbot demo [--model MODEL] [--sim-port N]

Runs the AI server, sync worker and gateway locally against the bundled upstream SIMULATOR (not a
real model): replies are deterministic ("You said: <your message>." then filler words).
Data goes to $DATA_DIR (default ./data/demo). Stop with Ctrl-C.

options:
  --model MODEL    simulator model, may carry options (default anthropic/simulator),
                   e.g. "anthropic/simulator@tokens=200,rate=20" for a slow 10 s stream
  --sim-port N     port of the simulator (default: any free port)`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    { model: { type: "string" }, "sim-port": { type: "string" } },
    USAGE,
  );
  const simPort = values["sim-port"] === undefined ? 0 : Number(values["sim-port"]);
  if (!Number.isInteger(simPort) || simPort < 0 || simPort > 65535) {
    process.stderr.write(`pipbot demo: --sim-port must be a port number, got ${values["sim-port"]}\n`);
    return 2;
  }
  const dataDir = resolve(process.env.DATA_DIR?.trim() || "./data/demo");
  mkdirSync(dataDir, { recursive: true });
  const token =
    process.env.CLAWDBOT_GATEWAY_TOKEN?.trim() ||
    process.env.OPENCLAW_GATEWAY_TOKEN?.trim() ||
    randomBytes(24).toString("hex");

  const sim = await startUpstreamSim({ port: simPort, hostname: "127.0.0.1" });
  const env = demoEnv(process.env, { simUrl: sim.url, dataDir, token, model: values.model });
  process.stderr.write(demoBanner({ simUrl: sim.url, model: env.AI_DEFAULT_MODEL ?? "", dataDir }));
  try {
    return await supervise({
      argv: ["--procfile", join(ROOT_DIR, "Procfile")],
      env,
      signals: true,
      secrets: [token],
      onReady: () => process.stderr.write(readyMessage({ gatewayPort: env.GATEWAY_PORT ?? "18789", token })),
    });
  } finally {
    await sim.stop();
  }
}
