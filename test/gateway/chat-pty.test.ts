/**
 * `pipbot chat` interactive mode on a REAL pseudo-terminal (tmux, its own server socket): keys are
 * typed with `send-keys`, the screen is read with `capture-pane`, and every step waits on a screen
 * condition with a deadline. Ctrl-C aborts the reply being streamed (the program stays), a second
 * Ctrl-C quits; Ctrl-C twice at the prompt and Ctrl-D quit too; the exit code is shown on screen.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { CLI, ROOT, waitFor } from "../helpers/index.ts";
import { startFakeAi, startTestGateway, type TestGateway, TOKEN } from "./helpers.ts";

const HAVE_TMUX = Bun.which("tmux") !== null;
const SOCKET = `pipbot-chat-pty-${process.pid}`;

let ai: Awaited<ReturnType<typeof startFakeAi>>;
let t: TestGateway;
let pane = 0;
const sessions: string[] = [];

function tmux(...args: string[]): string {
  const r = Bun.spawnSync(["tmux", "-L", SOCKET, ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`tmux ${args[0]} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** Start `pipbot chat` in a fresh tmux session; the shell prints EXIT:<code> when it ends. */
function startChat(session: string, url = t.wsUrl): string {
  const name = `chat${++pane}`;
  const cmd = `cd ${ROOT} && CLAWDBOT_GATEWAY_TOKEN=${TOKEN} bun ${CLI} chat --url ${url} --session ${session}; echo EXIT:$?; sleep 600`;
  sessions.push(name);
  tmux("new-session", "-d", "-s", name, "-x", "160", "-y", "50", "sh", "-c", cmd);
  return name;
}

const screen = (name: string) => tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", name);

/**
 * The banner is printed before the prompt's readline takes the terminal (raw mode): a key sent on
 * the banner alone can reach the terminal in cooked mode and be lost (a Ctrl-D then never quit).
 */
const promptAfterBanner = (session: string) => (s: string) =>
  new RegExp(`connected to session ${session}[^\\n]*\\n(?:Ctrl-C aborts[^\\n]*\\n)?>`).test(s);

async function waitScreen(name: string, what: string, cond: (s: string) => boolean, timeoutMs = 15_000) {
  try {
    return await waitFor(() => (cond(screen(name)) ? true : undefined), { timeoutMs, what });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- screen ---\n${screen(name)}`);
  }
}

const keys = (name: string, ...k: string[]) => void tmux("send-keys", "-t", name, ...k);

describe.skipIf(!HAVE_TMUX)("pipbot chat on a terminal", () => {
  beforeAll(async () => {
    ai = await startFakeAi();
    t = await startTestGateway({ aiUrl: ai.url });
    // A session that lives for the whole file: killing a test's last session would otherwise make
    // the tmux server exit, and the next test's new-session could race with the exiting server.
    tmux("new-session", "-d", "-s", "keepalive", "sh", "-c", "sleep 3600");
  });
  afterAll(async () => {
    try {
      tmux("kill-server");
    } catch {
      /* no server left */
    }
    rmSync(join(process.env.TMUX_TMPDIR || "/tmp", `tmux-${process.getuid?.() ?? 0}`, SOCKET), {
      force: true,
    });
    await t.stop();
    await ai.stop();
  });
  afterEach(() => {
    for (; sessions.length > 0; ) {
      try {
        tmux("kill-session", "-t", sessions.pop() as string);
      } catch {
        /* already gone */
      }
    }
  });

  test("Ctrl-C aborts the reply, not the program; the next line still works; Ctrl-C twice at the prompt quits (exit 0)", async () => {
    const w = startChat("pty-a");
    await waitScreen(w, "the banner and the prompt", promptAfterBanner("pty-a"));
    keys(w, "[slow] stream for a while", "Enter");
    await waitScreen(w, "streaming started", (s) =>
      /You said: \[slow\] stream for a while\. w1 w2 w3/.test(s),
    );
    keys(w, "C-c");
    await waitScreen(w, "[aborted]", (s) => s.includes("[aborted]"));
    const sessionId = t.store.findSession("pty-a")?.id as string;
    const aborted = t.store.listMessages(sessionId).at(-1);
    expect(aborted?.status).toBe("aborted");
    expect(aborted?.content[0]?.text).toStartWith("You said: [slow] stream for a while.");
    expect(screen(w)).not.toContain("EXIT:");

    keys(w, "after the abort", "Enter");
    await waitScreen(w, "the second reply", (s) => s.includes("You said: after the abort. w1 w2 w3 w4 w5"));
    keys(w, "C-c");
    await waitScreen(w, "the quit hint", (s) => s.includes("press Ctrl-C again"));
    expect(screen(w)).not.toContain("EXIT:");
    keys(w, "C-c");
    await waitScreen(w, "exit", (s) => s.includes("EXIT:"));
    expect(screen(w)).toContain("EXIT:0");
    expect(t.store.listMessages(sessionId).map((m) => [m.role, m.status])).toEqual([
      ["user", null],
      ["assistant", "aborted"],
      ["user", null],
      ["assistant", "final"],
    ]);
  }, 60_000);

  test("a second Ctrl-C while the reply is being aborted quits at once; Ctrl-D at the prompt quits", async () => {
    const w = startChat("pty-b");
    await waitScreen(w, "the banner and the prompt", promptAfterBanner("pty-b"));
    keys(w, "[slow] again", "Enter");
    await waitScreen(w, "streaming started", (s) => /You said: \[slow\] again\. w1 w2/.test(s));
    keys(w, "C-c");
    keys(w, "C-c");
    await waitScreen(w, "exit", (s) => s.includes("EXIT:"));
    expect(screen(w)).toContain("EXIT:0");
    // The run was aborted (not left streaming) even though the program quit.
    await waitFor(() => ["aborted", "error"].includes(t.store.getRun(runOf("pty-b"))?.state ?? ""), {
      what: "the run ended",
    });
    expect(t.store.getRun(runOf("pty-b"))?.state).toBe("aborted");

    const d = startChat("pty-b");
    await waitScreen(d, "the banner with history and the prompt", promptAfterBanner("pty-b"));
    expect(screen(d)).toContain("you: [slow] again");
    keys(d, "C-d");
    await waitScreen(d, "exit", (s) => s.includes("EXIT:"));
    expect(screen(d)).toContain("EXIT:0");
  }, 60_000);
  test("slash commands: the model and SIMULATOR shown, /new starts an empty session, /sessions lists and switches back", async () => {
    const g = await startTestGateway({ aiUrl: ai.url, settings: { AI_DEFAULT_MODEL: "anthropic/fake" } });
    try {
      const w = startChat("pty-c", g.wsUrl);
      // The fake AI server's /healthz says simulator:true, like the bundled simulator's.
      await waitScreen(w, "the banner with the model", (s) =>
        s.includes("connected to session pty-c; model: anthropic/fake — SIMULATOR"),
      );
      keys(w, "first in c", "Enter");
      await waitScreen(w, "reply 1", (s) => s.includes("You said: first in c. w1 w2 w3 w4 w5"));

      keys(w, "/new", "Enter");
      const fresh = await waitFor(
        () =>
          /connected to session (?!pty-c)(\S+);/.exec(screen(w).split("You said: first in c")[1] ?? "")?.[1],
        { what: "a new session" },
      );
      keys(w, "in the new one", "Enter");
      await waitScreen(w, "reply 2", (s) => s.includes("You said: in the new one. w1 w2 w3 w4 w5"));
      const stored = g.store.findSession(fresh);
      expect(stored).toBeTruthy();
      expect(g.store.listMessages(stored?.id as string).map((m) => m.role)).toEqual(["user", "assistant"]);
      // The new session's context is its own: only its message was sent.
      expect(ai.requests.at(-1)?.body.messages).toEqual([{ role: "user", content: "in the new one" }]);

      keys(w, "/sessions", "Enter");
      await waitScreen(
        w,
        "the list",
        (s) => new RegExp(`\\* \\d+\\. ${fresh}`).test(s) && / {2}\d+\. pty-c/.test(s),
      );
      keys(w, "/sessions pty-c", "Enter");
      await waitScreen(w, "back in pty-c", (s) =>
        /-- last 2 message\(s\) of session pty-c --\nyou: first in c/.test(s),
      );
      keys(w, "/model", "Enter");
      await waitScreen(w, "/model", (s) =>
        (s.split("> /model").at(-1) ?? "").includes("model: anthropic/fake — SIMULATOR"),
      );
      keys(w, "/bogus", "Enter");
      await waitScreen(w, "unknown command", (s) => s.includes("unknown command /bogus; /help lists them"));
      keys(w, "C-d");
      await waitScreen(w, "exit", (s) => s.includes("EXIT:"));
      expect(screen(w)).toContain("EXIT:0");
      expect(screen(w)).not.toContain("assistant: pipbot");
    } finally {
      await g.stop();
    }
  }, 60_000);
});

function runOf(sessionKey: string): string {
  const id = t.store.findSession(sessionKey)?.id as string;
  return t.store.listMessages(id).find((m) => m.role === "user")?.runId as string;
}
