#!/usr/bin/env bun
/**
 * `pipbot <command>`: the one entry point. Each command lives in its own module and exports
 * `main(argv): Promise<number>`; this file only dispatches and turns usage errors into exit 2.
 */
import { HelpRequested, UsageError } from "./shared/cli-args.ts";

type CommandMain = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ main: CommandMain }> }> = {
  start: {
    summary: "run the supervisor: AI server, sync worker and gateway",
    load: () => import("./supervisor/main.ts"),
  },
  gateway: {
    summary: "run the gateway alone (WebSocket chat, :18789)",
    load: () => import("./gateway/main.ts"),
  },
  ai: { summary: "run the AI server alone (POST /chat, :3000)", load: () => import("./ai-server/main.ts") },
  sync: { summary: "run the sync worker alone (outbox → Convex)", load: () => import("./sync/main.ts") },
  check: {
    summary: "validate configuration; print each process's effective config",
    load: () => import("./check/main.ts"),
  },
  status: {
    summary: "ask the running processes how they are (up, ready, key facts); exit 1 if not",
    load: () => import("./status/main.ts"),
  },
  up: {
    summary: "start when a provider key or CONVEX_URL is set (environment or .env), else demo",
    load: () => import("./supervisor/main.ts").then((m) => ({ main: m.upMain })),
  },
  demo: {
    summary: "run the whole runtime against the bundled upstream simulator (no keys)",
    load: () => import("./supervisor/main.ts").then((m) => ({ main: m.demoMain })),
  },
  chat: { summary: "terminal chat client for a gateway", load: () => import("./chat-client/main.ts") },
  release: {
    summary: "build, push, back up and roll back images (Fly.io)",
    load: () => import("./release/main.ts"),
  },
  dev: {
    summary: "developer tools: `pipbot dev upstream-sim --port N`",
    load: () => import("./dev/main.ts"),
  },
};

export const USAGE = `usage: pipbot <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`)
  .join("\n")}

Run \`pipbot <command> --help\` for a command's options.`;

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-v") {
    const { buildInfo } = await import("./shared/identity.ts");
    const b = buildInfo();
    process.stdout.write(`pipbot ${b.version} (${b.gitSha.slice(0, 7)}, built ${b.buildTime})\n`);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`pipbot: unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  try {
    const mod = await cmd.load();
    return await mod.main(rest);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(`${e.usage}\n`);
      return 0;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`pipbot ${name}: ${e.message}\n\n${e.usage}\n`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.main) {
  const code = await run(process.argv.slice(2));
  process.exit(code);
}
