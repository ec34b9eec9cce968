/**
 * `pipbot chat`: a terminal client for a gateway (protocol 4).
 *   pipbot chat "hello"        one-shot: stream the reply to stdout, exit 0 on final
 *   pipbot chat                interactive prompt with history, streaming, Ctrl-C aborts a reply
 * The only chat-client file that reads the environment or installs signal handlers.
 */
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { parseCommandArgs, UsageError } from "../shared/cli-args.ts";
import { procfilePathFrom } from "../shared/config/index.ts";
import { buildInfo } from "../shared/identity.ts";
import { ChatConnection, type GatewayClientError, safeUrl } from "./client.ts";
import { type CommandContext, runCommand } from "./commands.ts";
import { findToken } from "./find-token.ts";
import { showSession } from "./history.ts";
import { ChatLink } from "./link.ts";
import { startTurn, type Turn, type TurnResult } from "./turn.ts";

const USAGE = `usage: pipbot chat [--url ws://HOST:PORT] [--token TOKEN] [--session KEY] [--reconnect-ms N] [--procfile PATH] [message]

Chat with a pipbot (or any OpenClaw-compatible) gateway.
  With a message: stream the reply to stdout and exit (0 final, 1 run error or aborted,
  2 usage error, 3 cannot connect or connection lost, 4 authentication rejected; Ctrl-C aborts
  the reply (exit 1), a second Ctrl-C exits 130 at once).
  Without one: an interactive prompt. Ctrl-C aborts the reply being streamed, a second Ctrl-C
  (or Ctrl-C twice at the prompt, Ctrl-D, /exit) quits. When the connection drops (a gateway
  restart) it reconnects ("reconnecting…" on stderr); it exits 3 when it cannot within
  --reconnect-ms, 4 when the token is rejected. Piped stdin (echo hi | pipbot chat) is read
  line by line the same way; at its end: exit 0 when every turn and command succeeded, else 1.

  --url      gateway URL (default ws://127.0.0.1:$GATEWAY_PORT, GATEWAY_PORT defaults to 18789)
  --token    gateway token (default $CLAWDBOT_GATEWAY_TOKEN or $OPENCLAW_GATEWAY_TOKEN, else the
             token a gateway generated in $DATA_DIR/gateway-token; without DATA_DIR, the newest
             of ./data and ./data/demo; a relative DATA_DIR, ./data and ./data/demo are relative
             to the Procfile's directory, as for pipbot start and pipbot status)
  --procfile the Procfile the runtime was started with (default: $PROCFILE or ./Procfile): where
             its DATA_DIR, and so the gateway token, is found
  --session  session key (default main)
  --reconnect-ms  interactive: how long to try to reconnect after the connection drops
             (default 30000)
  -h, --help show this help

At the prompt: /sessions [N|KEY] lists or switches sessions, /new starts one, /model [ID] shows
or sets the session's model, /help lists these, /exit quits.`;

export const EXIT = { ok: 0, runFailed: 1, usage: 2, connect: 3, auth: 4 } as const;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      url: { type: "string" },
      token: { type: "string" },
      session: { type: "string" },
      "reconnect-ms": { type: "string" },
      procfile: { type: "string" },
    },
    USAGE,
    { positionals: 1 },
  );
  const url = values.url ?? `ws://127.0.0.1:${process.env.GATEWAY_PORT || "18789"}`;
  const found = findToken(values.token, process.env, dirname(procfilePathFrom(values.procfile, process.env)));
  const token = found?.token;
  const sessionKey = values.session ?? "main";
  const message = positionals[0];
  const reconnectMs = Number(values["reconnect-ms"] ?? 30_000);
  if (!Number.isInteger(reconnectMs) || reconnectMs < 0) {
    throw new UsageError(`--reconnect-ms must be a whole number of milliseconds ≥ 0`, USAGE);
  }

  let current: Turn | null = null;
  const connectFailed = (err: GatewayClientError): number => {
    if (err.kind === "auth") {
      process.stderr.write(
        `pipbot chat: authentication rejected by ${safeUrl(url)}: ${err.message}${err.code ? ` [${err.code}]` : ""}\n` +
          `${found ? `(token from ${found.source}) ` : ""}Fix: pass --token or set CLAWDBOT_GATEWAY_TOKEN to the gateway's token\n`,
      );
      return EXIT.auth;
    }
    // Nothing answers at the URL: say what to do about it (start a runtime, or point elsewhere).
    const fix =
      err.kind === "connect"
        ? `\nFix: start the runtime (\`./pipbot up\`, or \`./pipbot demo\` without keys), or pass --url with the gateway's address\n`
        : "\n";
    process.stderr.write(`pipbot chat: ${err.message}${fix}`);
    return EXIT.connect;
  };

  if (message === undefined) {
    const link = new ChatLink({
      url,
      token,
      clientVersion: buildInfo().version,
      reconnectMs,
      onEvent: (ev) => current?.onEvent(ev),
      onLost: (code, reason) => current?.onClose(code, reason),
      status: (line) => void process.stderr.write(`${line}\n`),
    });
    try {
      await link.connect();
    } catch (e) {
      return connectFailed(e as GatewayClientError);
    }
    const code = await interactive(link, sessionKey, (t) => {
      current = t;
    });
    return link.failedWith ? connectFailed(link.failedWith) : code;
  }

  const conn = new ChatConnection({
    url,
    token,
    clientVersion: buildInfo().version,
    onEvent: (ev) => current?.onEvent(ev),
    onClose: (code, reason) => current?.onClose(code, reason),
  });
  try {
    await conn.connect();
  } catch (e) {
    return connectFailed(e as GatewayClientError);
  }
  if (message.trim() === "") {
    conn.close();
    process.stderr.write("pipbot chat: the message is empty\n");
    return EXIT.usage;
  }
  let interrupted = 0;
  const onSigint = () => {
    interrupted++;
    if (interrupted === 1) void current?.abort();
    else process.exit(130);
  };
  process.on("SIGINT", onSigint);
  current = startTurn(conn, sessionKey, message, (s) => void process.stdout.write(s));
  const r = await current.result;
  process.off("SIGINT", onSigint);
  conn.close();
  return report(r, true);
}

/** Print how a turn ended (stderr for anything but final); return the exit code. */
function report(r: TurnResult, oneShot: boolean): number {
  if (r.text !== "" && !r.text.endsWith("\n")) process.stdout.write("\n");
  switch (r.state) {
    case "final":
      return EXIT.ok;
    case "aborted":
      process.stderr.write(oneShot ? "pipbot chat: reply aborted\n" : "[aborted]\n");
      return EXIT.runFailed;
    case "error":
      // The protocol's errorKind "unknown" says nothing: the kind is shown only when it is known.
      process.stderr.write(
        `pipbot chat: run failed${r.kind && r.kind !== "unknown" ? ` (${r.kind})` : ""}: ${r.message}\n`,
      );
      return EXIT.runFailed;
    default:
      process.stderr.write(`pipbot chat: ${r.message}\n`);
      return EXIT.connect;
  }
}

async function interactive(
  link: ChatLink,
  initialSession: string,
  setTurn: (t: Turn | null) => void,
): Promise<number> {
  const out = process.stdout;
  // The terminal is read (raw mode, Ctrl-D seen) from the start, also while the history loads: a
  // key typed before would otherwise reach a cooked terminal and be lost.
  const tty = process.stdin.isTTY === true;
  const rl = createInterface({ input: process.stdin, output: out, terminal: tty });
  const lines: string[] = [];
  // End of input (Ctrl-D, or the end of piped stdin — possibly before the first prompt): readline
  // is closed then and must not be prompted again (ERR_USE_AFTER_CLOSE).
  let eof = false;
  const prompt = () => {
    if (!eof) rl.prompt();
  };
  // Turns and commands that failed: with piped input the exit code says whether all succeeded.
  let failures = 0;
  let busy: Turn | null = null;
  // Consecutive Ctrl-C with no line sent in between: the first aborts the reply being streamed
  // (or, at the prompt, asks for confirmation); the second quits.
  let interrupts = 0;
  const { promise: quit, resolve: requestQuit } = Promise.withResolvers<"quit">();
  // The link gave up reconnecting (or the token was rejected): stop at once, even at the prompt.
  const failed = link.failed.then(() => "failed" as const);
  let wake: (() => void) | null = null;
  const poke = () => {
    wake?.();
    wake = null;
  };
  rl.on("line", (l) => {
    lines.push(l);
    poke();
  });
  rl.on("close", () => {
    eof = true;
    poke();
  });
  rl.on("SIGINT", () => {
    interrupts++;
    if (interrupts >= 2) {
      eof = true;
      requestQuit("quit");
      poke();
      return;
    }
    if (busy) {
      void busy.abort();
      return;
    }
    out.write("\n(press Ctrl-C again or Ctrl-D to quit)\n");
    prompt();
  });
  let sessionKey = initialSession;
  await showSession(link, sessionKey, out);
  out.write(`Ctrl-C aborts a reply, Ctrl-C twice or Ctrl-D quits; /help lists the commands\n`);
  const commands: CommandContext = {
    link,
    offers: (m) => link.offers(m),
    get sessionKey() {
      return sessionKey;
    },
    setSession: async (key) => {
      sessionKey = key;
      await showSession(link, key, out);
    },
    say: (text) => void out.write(`${text}\n`),
  };

  rl.setPrompt("> ");
  prompt();
  let code: number = EXIT.ok;
  for (;;) {
    if (link.failedWith) break;
    if (lines.length === 0) {
      if (eof) break;
      await Promise.race([new Promise<void>((r) => (wake = r)), quit, failed]);
      continue;
    }
    const line = (lines.shift() as string).trim();
    if (line === "") {
      prompt();
      continue;
    }
    if (line === "/exit" || line === "/quit") break;
    interrupts = 0;
    if (line.startsWith("/")) {
      try {
        if (!(await runCommand(commands, line))) {
          failures++;
          process.stderr.write(`pipbot chat: unknown command ${line.split(/\s/)[0]}; /help lists them\n`);
        }
      } catch (e) {
        failures++;
        process.stderr.write(`pipbot chat: ${line.split(/\s/)[0]} failed: ${(e as Error).message}\n`);
      }
      if (link.failedWith) break;
      prompt();
      continue;
    }
    // "assistant: " only in front of the assistant's text, never before a connection error.
    let started = false;
    busy = startTurn(link, sessionKey, line, (chunk) => {
      if (!started) out.write("assistant: ");
      started = true;
      out.write(chunk);
    });
    setTurn(busy);
    const r = await Promise.race([busy.result, quit, failed]);
    busy = null;
    setTurn(null);
    if (r === "quit") {
      out.write("\n");
      break;
    }
    if (r === "failed") break;
    if (r.state === "closed") {
      if (r.text !== "" && !r.text.endsWith("\n")) out.write("\n");
      if (link.failedWith) break;
      failures++;
      process.stderr.write(
        r.text === ""
          ? "[not sent: the connection to the gateway was lost; send it again]\n"
          : "[the reply was interrupted: the connection to the gateway was lost; send it again]\n",
      );
    } else if (report(r, false) !== EXIT.ok) failures++;
    prompt();
  }
  if (link.failedWith) code = EXIT.connect;
  else if (!tty && failures > 0) code = EXIT.runFailed;
  rl.close();
  link.close();
  return code;
}
