/**
 * The `pipbot` dispatcher as a real child process: `--help` for every command (exit 0, usage on
 * stdout), unknown commands, flags and arguments (usage message, exit 2), `--version`.
 * The command list is read from `pipbot --help`, so a new command is covered without editing this.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { childEnv, ROOT, spawnPipbot } from "../helpers/index.ts";

async function pipbot(...args: string[]) {
  const p = spawnPipbot(args, childEnv());
  const code = await p.exited;
  return { code, out: p.output() };
}

const top = await pipbot("--help");
const COMMANDS = [...top.out.matchAll(/^ {2}([a-z]+) {2,}\S/gm)].map((m) => m[1] as string);

describe("pipbot (dispatcher)", () => {
  test("--help lists every command of the issue, exit 0", () => {
    expect(top.code).toBe(0);
    expect(top.out).toStartWith("usage: pipbot <command>");
    for (const c of ["start", "gateway", "ai", "sync", "check", "demo"]) expect(COMMANDS).toContain(c);
  });

  test("no command: usage, exit 2; unknown command: named, usage, exit 2", async () => {
    const none = await pipbot();
    expect(none.code).toBe(2);
    expect(none.out).toContain("usage: pipbot <command>");
    const bad = await pipbot("frobnicate");
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('unknown command "frobnicate"');
    expect(bad.out).toContain("usage: pipbot <command>");
  });

  test("--version prints the package version", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const v = await pipbot("--version");
    expect(v.code).toBe(0);
    expect(v.out).toStartWith(`pipbot ${pkg.version} (`);
  });

  test("every command: --help and -h print its usage (exit 0); an unknown flag is a usage error (exit 2)", async () => {
    expect(COMMANDS.length).toBeGreaterThanOrEqual(6);
    for (const c of COMMANDS) {
      for (const flag of ["--help", "-h"]) {
        const h = await pipbot(c, flag);
        expect({ c, flag, code: h.code }).toEqual({ c, flag, code: 0 });
        expect(h.out).toStartWith(`usage: pipbot ${c}`);
      }
      const bad = await pipbot(c, "--no-such-flag");
      expect({ c, code: bad.code }).toEqual({ c, code: 2 });
      expect(bad.out).toContain(`pipbot ${c}: `);
      expect(bad.out).toContain("--no-such-flag");
      expect(bad.out).toContain(`usage: pipbot ${c}`);
    }
  }, 120_000); // three real `bun` starts per command (~40): past 30 s on a loaded machine (seen at load 23)

  test("pipbot ai --help lists each endpoint on its own, METHOD /path separated by commas", async () => {
    const h = await pipbot("ai", "--help");
    const endpoints = [...h.out.matchAll(/\b(GET|POST) (\/\S*?)[,.]?(?=\s|$)/g)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    for (const e of ["POST /chat", "POST /v1/chat/completions", "POST /v1/messages", "GET /v1/models"])
      expect(endpoints).toContain(e);
    expect(endpoints).toContain("GET /healthz");
    // Two endpoints never run together ("GET /healthz\nPOST /v1/messages").
    expect(h.out).not.toMatch(/ \/[^\s,]*[^\s,.]\s+(GET|POST) \//);
  });

  test("unexpected arguments are usage errors too", async () => {
    for (const args of [
      ["start", "extra"],
      ["check", "extra"],
      ["start", "--only"],
    ]) {
      const r = await pipbot(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.out).toContain(`usage: pipbot ${args[0]}`);
    }
  }, 30_000);
});
