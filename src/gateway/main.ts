/**
 * `pipbot gateway`: the gateway process. The only gateway file that reads the environment, calls
 * Bun.serve and installs signal handlers; everything else is app.ts and what it composes.
 */
import { randomBytes } from "node:crypto";
import { parseCommandArgs } from "../shared/cli-args.ts";
import { gatewayEnv, loadConfigOrExit, secretValues } from "../shared/config/index.ts";
import { loadOrCreateToken } from "../shared/gateway-token.ts";
import { buildInfo, identity } from "../shared/identity.ts";
import { INSTANCE_VAR, withInstanceHeader } from "../shared/instance.ts";
import { createLogger } from "../shared/log.ts";
import { LogRing } from "../shared/log-ring.ts";
import { onStopSignals, type StopReason } from "../shared/stop-signals.ts";
import { openStore } from "../shared/store/index.ts";
import { createGateway } from "./app.ts";

const USAGE = `usage: pipbot gateway

Runs the OpenClaw-compatible WebSocket gateway (protocol 3 and 4) on GATEWAY_HOST:GATEWAY_PORT
(default 127.0.0.1:18789), with GET /healthz and GET /readyz. Clients authenticate with
CLAWDBOT_GATEWAY_TOKEN (alias OPENCLAW_GATEWAY_TOKEN); on a loopback bind without one, a token is
generated once, saved in DATA_DIR/gateway-token (mode 0600) and reused on every start; on a
terminal its ready-to-use URL is printed. Chats are stored in DATA_DIR and answered by the AI server at AI_URL.`;

export async function main(argv: string[]): Promise<number> {
  parseCommandArgs(argv, {}, USAGE);
  const config = loadConfigOrExit(gatewayEnv);
  // The newest log lines (already redacted) also stay in memory for the Control UI's logs panel.
  const logRing = new LogRing();
  const log = createLogger({
    proc: "gateway",
    level: config.LOG_LEVEL,
    secrets: secretValues(process.env),
    tee: logRing,
  });
  const who = identity(["gateway"]);
  log.info({ event: "identity", ...who }, "pipbot gateway starting");

  let token = config.CLAWDBOT_GATEWAY_TOKEN;
  let tokenFile: string | undefined;
  if (!token) {
    // Only on a loopback bind: gatewayEnv's rule refuses a non-loopback one without a token.
    try {
      const t = loadOrCreateToken(config.DATA_DIR);
      token = t.token;
      tokenFile = t.path;
      log.redactor.add([token]);
      log.info(
        { event: "gateway_token", tokenFile, created: t.created },
        t.created
          ? `no CLAWDBOT_GATEWAY_TOKEN set: generated a token and saved it in ${tokenFile} (mode 0600)`
          : `no CLAWDBOT_GATEWAY_TOKEN set: using the token saved in ${tokenFile}`,
      );
    } catch (e) {
      // A read-only DATA_DIR: still usable locally, but clients must be given the token again after a restart.
      token = randomBytes(24).toString("hex");
      log.redactor.add([token]);
      log.warn(
        { event: "gateway_token", err: e, dataDir: config.DATA_DIR },
        `cannot save a generated token in DATA_DIR (${(e as Error).message}); using one for this run only`,
      );
    }
  } else {
    log.redactor.add([token]);
  }

  let store: ReturnType<typeof openStore>;
  try {
    store = openStore(config.DATA_DIR);
  } catch (e) {
    log.fatal(
      { err: e, dataDir: config.DATA_DIR },
      `cannot open the store in DATA_DIR: ${(e as Error).message}`,
    );
    return 1;
  }
  const interrupted = store.closeInterruptedRuns();
  if (interrupted.length > 0) {
    log.warn(
      { event: "runs_interrupted", runIds: interrupted.map((r) => r.runId) },
      `closed ${interrupted.length} run(s) interrupted by a previous stop`,
    );
  }

  const gw = createGateway({
    config,
    token,
    logger: log,
    store,
    version: buildInfo().version,
    identity: who,
    logRing,
    dataDir: config.DATA_DIR,
    clientIpHeader: process.env.FLY_APP_NAME ? "fly-client-ip" : undefined,
  });

  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: config.GATEWAY_HOST,
      port: config.GATEWAY_PORT,
      fetch: withInstanceHeader(gw.fetch, process.env[INSTANCE_VAR]),
      websocket: gw.websocket,
    });
  } catch (e) {
    log.fatal(
      { err: (e as Error).message, host: config.GATEWAY_HOST, port: config.GATEWAY_PORT },
      `cannot listen on ${config.GATEWAY_HOST}:${config.GATEWAY_PORT}: ${(e as Error).message}. Fix: set GATEWAY_PORT to a free port`,
    );
    await gw.stop();
    store.close();
    return 1;
  }
  const shownHost = config.GATEWAY_HOST.includes(":") ? `[${config.GATEWAY_HOST}]` : config.GATEWAY_HOST;
  log.info(
    {
      event: "gateway_ready",
      host: config.GATEWAY_HOST,
      port: server.port,
      aiUrl: config.AI_URL,
      // The identity sent to the AI server with every chat (the token itself is never logged).
      aiUserId: config.CLERK_USER_ID && config.PIPBOT_SERVICE_TOKEN ? config.CLERK_USER_ID : null,
      generatedToken: !config.CLAWDBOT_GATEWAY_TOKEN,
    },
    `gateway listening on ws://${shownHost}:${server.port}`,
  );
  if (!config.CLAWDBOT_GATEWAY_TOKEN) {
    const httpUrl = `http://${shownHost}:${server.port}`;
    // The token value is shown only to a human at a terminal, never in a (JSON) log line: under the
    // supervisor or with stderr redirected the line names the file instead. The token rides in the
    // URL fragment, which browsers never send to a server.
    if (process.stderr.isTTY === true && !process.env.PIPBOT_SUPERVISED) {
      process.stderr.write(
        `\npipbot gateway: no CLAWDBOT_GATEWAY_TOKEN set; clients use the generated token${tokenFile ? ` saved in ${tokenFile}` : ""}.\n` +
          `  Open:  ${httpUrl}/#token=${token}\n` +
          `  Chat:  pipbot chat --url ws://${shownHost}:${server.port}${tokenFile ? "" : ` --token ${token}`}\n\n`,
      );
    } else {
      log.info(
        { event: "gateway_token_hint", url: httpUrl, ...(tokenFile ? { tokenFile } : {}) },
        tokenFile
          ? `clients use the token in ${tokenFile}: run \`pipbot chat\` (it reads that file) or open ${httpUrl}/ and paste it`
          : `no token file: set CLAWDBOT_GATEWAY_TOKEN so clients survive a restart`,
      );
    }
  }

  const { promise: stopRequested, resolve: requestStop } = Promise.withResolvers<StopReason>();
  const offStop = onStopSignals(
    {
      graceful: (why) => {
        log.info({ event: "gateway_stopping", signal: why }, `received ${why}; stopping`);
        requestStop(why);
      },
      force: (why) => {
        log.warn({ event: "gateway_stopping", signal: why }, `received ${why} again; exiting now`);
        process.exit(1);
      },
    },
    { env: process.env },
  );

  await stopRequested;
  await gw.stop({ reason: "gateway stopping", restartExpectedMs: 5000 });
  await server.stop(true);
  store.close();
  log.info({ event: "gateway_stopped" }, "gateway stopped");
  offStop();
  return 0;
}
