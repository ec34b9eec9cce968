/**
 * `pipbot dev <tool>`: developer tools. `pipbot dev upstream-sim [--port N] [--host H]` runs the
 * upstream simulator (Anthropic, OpenAI and Gemini wire formats) until SIGTERM/SIGINT.
 */

import { parseCommandArgs, UsageError } from "../shared/cli-args.ts";
import { onStopSignals, type StopReason } from "../shared/stop-signals.ts";
import { startUpstreamSim } from "./upstream-sim.ts";

const CLI_CUT_HOLD_MS = 250;

const USAGE = `usage: pipbot dev upstream-sim [--port N] [--host ADDR]

Runs a local simulator of the Anthropic, OpenAI and Gemini APIs (no keys, no network).
Point the AI server at it:
  ANTHROPIC_BASE_URL=<url>  OPENAI_BASE_URL=<url>/v1  GOOGLE_GEMINI_BASE_URL=<url>
  ANTHROPIC_API_KEY=sim OPENAI_API_KEY=sim GEMINI_API_KEY=sim PIPBOT_SIMULATOR=1
Select behaviour per request in the model name after @ (or header x-sim-options), e.g.
  anthropic/sim@tokens=200,rate=20   anthropic/sim@fault=error_after:3   openai/sim@status=429,retry_after=1

options:
  --port N      port to listen on (default 0: any free port)
  --host ADDR   address to bind (default 127.0.0.1)`;

export async function main(argv: string[]): Promise<number> {
  const [tool, ...rest] = argv;
  if (tool === "--help" || tool === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (tool !== "upstream-sim")
    throw new UsageError(tool ? `unknown dev tool "${tool}"` : "missing dev tool name", USAGE);
  const { values } = parseCommandArgs(rest, { port: { type: "string" }, host: { type: "string" } }, USAGE);
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be 0-65535, got ${values.port}`, USAGE);
  // Nobody calls releaseCuts() here (the demo, manual runs): a streamed fault=cut_after:<n> cuts
  // after this short, time-based hold instead of waiting for a test's release.
  const sim = await startUpstreamSim({
    port,
    hostname: values.host ?? "127.0.0.1",
    cutHoldMs: CLI_CUT_HOLD_MS,
  });
  process.stdout.write(
    `${JSON.stringify({ level: "info", proc: "upstream-sim", msg: "upstream simulator listening", url: sim.url, port: sim.port })}\n`,
  );
  process.stdout.write(`upstream simulator listening on ${sim.url}\n`);
  const { promise: stopRequested, resolve: requestStop } = Promise.withResolvers<StopReason>();
  const offStop = onStopSignals(
    { graceful: requestStop, force: () => process.exit(1) },
    { env: process.env },
  );
  await stopRequested;
  await sim.stop();
  offStop();
  return 0;
}
