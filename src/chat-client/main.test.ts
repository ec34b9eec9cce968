/** pipbot chat: where the gateway token comes from. */
import { describe, expect, test } from "bun:test";
import { statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../test/helpers/index.ts";
import { loadOrCreateToken } from "../shared/gateway-token.ts";
import { findToken } from "./find-token.ts";

/** The Procfile's directory when it is the working directory (no --procfile, no $PROCFILE). */
const here = () => process.cwd();

describe("pipbot chat: where the token comes from", () => {
  test("--token, then the env, then $DATA_DIR/gateway-token, else the newest of ./data and ./data/demo", () => {
    const dir = tempDir("pipbot-chat-token-");
    const cwd = process.cwd();
    try {
      process.chdir(dir.path);
      expect(findToken(undefined, {}, here())).toBeUndefined();
      const demo = loadOrCreateToken(join(".", "data", "demo")).token;
      expect(findToken(undefined, {}, here())).toEqual({
        token: demo,
        source: join(process.cwd(), "data", "demo", "gateway-token"),
      });
      const local = loadOrCreateToken(join(".", "data")).token;
      // Both exist: the token of the gateway started last wins (each start touches its file).
      utimesSync(join("data", "demo", "gateway-token"), new Date(1_000_000), new Date(1_000_000));
      expect(findToken(undefined, {}, here())?.token).toBe(local);
      utimesSync(join("data", "gateway-token"), new Date(2_000_000), new Date(2_000_000));
      loadOrCreateToken(join(".", "data", "demo")); // a demo gateway starts again (touches its file)
      expect(findToken(undefined, {}, here())?.token).toBe(demo);
      utimesSync(join("data", "demo", "gateway-token"), new Date(1_000_000), new Date(1_000_000));
      expect(findToken(undefined, { DATA_DIR: "./data/demo" }, here())?.token).toBe(demo);
      expect(findToken(undefined, { DATA_DIR: "./elsewhere" }, here())).toBeUndefined();
      expect(findToken(undefined, { OPENCLAW_GATEWAY_TOKEN: "from-openclaw-env" }, here())?.source).toBe(
        "OPENCLAW_GATEWAY_TOKEN",
      );
      expect(
        findToken(undefined, { CLAWDBOT_GATEWAY_TOKEN: "a-env-token", OPENCLAW_GATEWAY_TOKEN: "b" }, here()),
      ).toEqual({ token: "a-env-token", source: "CLAWDBOT_GATEWAY_TOKEN" });
      expect(findToken("flag-token", { CLAWDBOT_GATEWAY_TOKEN: "a-env-token" }, here())).toEqual({
        token: "flag-token",
        source: "--token",
      });
      // The file is reused, never rewritten, and kept private.
      expect(loadOrCreateToken(join(".", "data"))).toMatchObject({ token: local, created: false });
      expect(statSync(join("data", "gateway-token")).mode & 0o777).toBe(0o600);
    } finally {
      process.chdir(cwd);
      dir.cleanup();
    }
  });

  test("relative DATA_DIR, ./data and ./data/demo are the Procfile's directory's, not the working directory's", () => {
    const repo = tempDir("pipbot-chat-procfile-");
    const elsewhere = tempDir("pipbot-chat-cwd-");
    const cwd = process.cwd();
    try {
      process.chdir(elsewhere.path);
      const rel = loadOrCreateToken(join(repo.path, "rel-data")).token;
      expect(findToken(undefined, { DATA_DIR: "./rel-data" }, repo.path)).toEqual({
        token: rel,
        source: join(repo.path, "rel-data", "gateway-token"),
      });
      expect(findToken(undefined, { DATA_DIR: "./rel-data" }, here())).toBeUndefined();
      const demo = loadOrCreateToken(join(repo.path, "data", "demo")).token;
      expect(findToken(undefined, {}, repo.path)?.token).toBe(demo);
      expect(findToken(undefined, {}, here())).toBeUndefined();
    } finally {
      process.chdir(cwd);
      repo.cleanup();
      elsewhere.cleanup();
    }
  });
});
