/**
 * Issue 11 finding 10 (.env): `pipbot up` (what `./pipbot up` runs) chooses start or demo from the
 * environment INCLUDING ./.env, which Bun loads for every pipbot command — the one documented way.
 * Before the fix the shell script decided from its own environment only, so a key kept in .env
 * still ran the demo.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, childEnv, spawnCaptured, tempDir, waitFor } from "../helpers/index.ts";
import { killSupervisorTree } from "./helpers.ts";

let cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function up(cwd: string, args: string[] = []) {
  const env = childEnv();
  delete env.PIPBOT_SUPERVISED;
  const p = spawnCaptured(["bun", CLI, "up", ...args], env, { cwd });
  cleanups.push(() => killSupervisorTree(p));
  return p;
}

describe("pipbot up", () => {
  test("a provider key in ./.env: runs pipbot start, saying why", async () => {
    const t = tempDir("pipbot-up-");
    cleanups.push(t.cleanup);
    writeFileSync(join(t.path, "Procfile"), "web: exec sleep 300\n");
    writeFileSync(
      join(t.path, ".env"),
      `ANTHROPIC_API_KEY=key-from-dotenv\nDATA_DIR=${join(t.path, "data")}\nSUPERVISOR_READY_UPTIME_MS=100\n`,
    );
    const p = up(t.path);
    await waitFor(() => p.records().some((r) => r.event === "all_ready"), {
      timeoutMs: 20_000,
      what: "pipbot start ready",
    });
    expect(p.output()).toContain("pipbot up: ANTHROPIC_API_KEY is set: running pipbot start");
    expect(p.output()).not.toContain("key-from-dotenv");
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  }, 60_000);

  test("no key in the environment or ./.env: the demo (its own option parsing answers)", async () => {
    const t = tempDir("pipbot-up-");
    cleanups.push(t.cleanup);
    writeFileSync(join(t.path, ".env"), "LOG_LEVEL=info\n");
    const p = up(t.path, ["--sim-port", "nope"]);
    expect(await p.exited).toBe(2);
    // It says what it checked, OPENAI_BASE_URL (a keyless Ollama) included.
    expect(p.output()).toContain(
      "pipbot up: none of ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, CLAUDE_ACCESS_TOKEN, OPENAI_API_KEY, GEMINI_API_KEY, GOOGLE_API_KEY, GOOGLE_APPLICATION_CREDENTIALS_JSON, CONVEX_URL, OPENAI_BASE_URL is set (environment or .env)",
    );
    expect(p.output()).toContain("--sim-port must be a port number");
    expect(p.output()).toContain("usage: pipbot demo");
  }, 60_000);
});
