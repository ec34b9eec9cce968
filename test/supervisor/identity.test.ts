/**
 * The identity fields (shared/identity.ts): what was baked into the image at build time
 * (build-info.json) or given by PIPBOT_GIT_SHA / PIPBOT_BUILD_TIME, the git checkout otherwise,
 * and the Fly machine identity.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { identity } from "../../src/shared/identity.ts";
import { tempDir } from "../helpers/index.ts";

function root(files: Record<string, string>) {
  const t = tempDir("pipbot-id-");
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(t.path, path, ".."), { recursive: true });
    writeFileSync(join(t.path, path), text);
  }
  return t;
}

const SHA = "89abcdef0123456789abcdef0123456789abcdef";

describe("identity", () => {
  test("an image: version, SHA and build time from build-info.json; Fly variables; mode; Bun", () => {
    const t = root({
      "package.json": '{"version":"0.1.0"}',
      "build-info.json": JSON.stringify({ version: "0.1.0", gitSha: SHA, buildTime: "2026-11-30T10:00:00Z" }),
    });
    try {
      const env = {
        FLY_IMAGE_REF: "registry.fly.io/pipbot:deployment-1",
        FLY_MACHINE_ID: "m1",
        FLY_REGION: "ams",
        PIPBOT_MODE: "separate",
      };
      expect(identity(["ai"], env, t.path)).toEqual({
        version: "0.1.0",
        gitSha: SHA,
        buildTime: "2026-11-30T10:00:00Z",
        flyImageRef: "registry.fly.io/pipbot:deployment-1",
        flyMachineId: "m1",
        flyRegion: "ams",
        flyAppName: null,
        mode: "separate",
        processes: ["ai"],
        bun: Bun.version,
      });
      // Build arguments given as variables win over the baked file.
      expect(identity([], { PIPBOT_GIT_SHA: "f00", PIPBOT_BUILD_TIME: "now" }, t.path)).toMatchObject({
        gitSha: "f00",
        buildTime: "now",
        mode: "integrated",
        flyImageRef: null,
      });
    } finally {
      t.cleanup();
    }
  });

  test("a checkout: SHA from .git (loose or packed ref), build time unknown", () => {
    const loose = root({
      "package.json": '{"version":"1.2.3"}',
      ".git/HEAD": "ref: refs/heads/main\n",
      ".git/refs/heads/main": `${SHA}\n`,
    });
    const packed = root({
      "package.json": '{"version":"1.2.3"}',
      ".git/HEAD": "ref: refs/heads/main\n",
      ".git/packed-refs": `# pack-refs\n${SHA} refs/heads/main\n`,
    });
    const none = root({ "package.json": '{"version":"1.2.3"}' });
    try {
      expect(identity([], {}, loose.path)).toMatchObject({
        version: "1.2.3",
        gitSha: SHA,
        buildTime: "unknown",
      });
      expect(identity([], {}, packed.path).gitSha).toBe(SHA);
      expect(identity([], {}, none.path).gitSha).toBe("unknown");
    } finally {
      for (const t of [loose, packed, none]) t.cleanup();
    }
  });
});
