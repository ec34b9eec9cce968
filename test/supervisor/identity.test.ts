/**
 * The identity fields (shared/identity.ts): what was baked into the image at build time
 * (build-info.json) or given by PIPBOT_GIT_SHA / PIPBOT_BUILD_TIME, the git checkout otherwise,
 * and the Fly machine identity.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
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

  describe("a real git checkout (git's own files, no git process at runtime)", () => {
    /** Run git in `cwd`; its stdout, trimmed. A failure fails the test with git's message. */
    function git(cwd: string, ...args: string[]): string {
      const r = Bun.spawnSync(["git", "-c", "init.defaultBranch=main", ...args], {
        cwd,
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: cwd,
          GIT_CONFIG_NOSYSTEM: "1",
          GIT_AUTHOR_NAME: "t",
          GIT_AUTHOR_EMAIL: "t@example.com",
          GIT_COMMITTER_NAME: "t",
          GIT_COMMITTER_EMAIL: "t@example.com",
        },
      });
      if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString()}`);
      return r.stdout.toString().trim();
    }

    /** A repository at <tmp>/repo with two commits on main; returns its paths and HEAD. */
    function repo() {
      const t = tempDir("pipbot-id-git-");
      const dir = join(t.path, "repo");
      mkdirSync(dir);
      git(dir, "init", "-q");
      writeFileSync(join(dir, "package.json"), '{"version":"2.0.0"}');
      git(dir, "add", "package.json");
      git(dir, "commit", "-q", "-m", "one");
      const first = git(dir, "rev-parse", "HEAD");
      writeFileSync(join(dir, "README"), "x");
      git(dir, "add", "README");
      git(dir, "commit", "-q", "-m", "two");
      return { t, dir, first, head: git(dir, "rev-parse", "HEAD") };
    }

    test("a plain clone: HEAD → loose ref, then packed ref, then detached HEAD", () => {
      const r = repo();
      try {
        expect(identity([], {}, r.dir).gitSha).toBe(r.head);
        git(r.dir, "pack-refs", "--all", "--prune");
        expect(git(r.dir, "for-each-ref", "--format=%(refname)")).toContain("refs/heads/main");
        expect(identity([], {}, r.dir).gitSha).toBe(r.head);
        git(r.dir, "checkout", "-q", "--detach", r.first);
        expect(identity([], {}, r.dir).gitSha).toBe(r.first);
      } finally {
        r.t.cleanup();
      }
    });

    test("a worktree (`.git` is a file): its own HEAD, its branch in the common dir, loose or packed", () => {
      const r = repo();
      const wt = join(r.t.path, "wt");
      try {
        git(r.dir, "worktree", "add", "-q", "-b", "side", wt, r.first);
        expect(identity([], {}, wt).gitSha).toBe(r.first);
        // The main checkout still reports its own HEAD.
        expect(identity([], {}, r.dir).gitSha).toBe(r.head);
        // The branch only in the common dir's packed-refs.
        git(r.dir, "pack-refs", "--all", "--prune");
        expect(identity([], {}, wt).gitSha).toBe(r.first);
        // A new commit in the worktree: a loose ref again.
        writeFileSync(join(wt, "more"), "y");
        git(wt, "add", "more");
        git(wt, "commit", "-q", "-m", "three");
        expect(identity([], {}, wt).gitSha).toBe(git(wt, "rev-parse", "HEAD"));
        // Detached in the worktree.
        git(wt, "checkout", "-q", "--detach", r.head);
        expect(identity([], {}, wt).gitSha).toBe(r.head);
      } finally {
        r.t.cleanup();
      }
    });

    test("a worktree whose `.git` file names its gitdir relatively (git worktree add --relative-paths)", () => {
      const r = repo();
      const wt = join(r.t.path, "wt");
      try {
        git(r.dir, "worktree", "add", "-q", "--detach", wt, r.first);
        // Rewrite the link as a relative one (what --relative-paths writes on git ≥ 2.48).
        const gitdir = /^gitdir: (.+)$/m.exec(readFileSync(join(wt, ".git"), "utf8"))?.[1];
        expect(gitdir).toBeDefined();
        writeFileSync(join(wt, ".git"), `gitdir: ${relative(wt, gitdir ?? "")}\n`);
        expect(identity([], {}, wt).gitSha).toBe(r.first);
      } finally {
        r.t.cleanup();
      }
    });

    test("build-info.json and PIPBOT_GIT_SHA still win over the checkout", () => {
      const r = repo();
      try {
        writeFileSync(join(r.dir, "build-info.json"), JSON.stringify({ gitSha: SHA, buildTime: "t" }));
        expect(identity([], {}, r.dir).gitSha).toBe(SHA);
        expect(identity([], { PIPBOT_GIT_SHA: "f00" }, r.dir).gitSha).toBe("f00");
      } finally {
        r.t.cleanup();
      }
    });
  });
});
