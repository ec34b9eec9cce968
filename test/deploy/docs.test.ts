/**
 * docs/DEPLOY.md stays true to the code: it names every environment variable the processes read
 * and every release option and variable, the files it points at exist, and the reverse-proxy
 * example keeps the settings WebSocket and SSE need.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type EnvVars, processEnvs } from "../../src/shared/config/index.ts";
import { CLI, ROOT } from "../helpers/index.ts";
import { runCaptured } from "./lib/run.ts";

const DEPLOY = readFileSync(join(ROOT, "docs/DEPLOY.md"), "utf8");
const named = (name: string) => DEPLOY.includes(`\`${name}\``);

describe("docs/DEPLOY.md", () => {
  test("names every environment variable of every process (and every alias)", () => {
    const all = new Set<string>();
    for (const def of Object.values(processEnvs)) {
      for (const [name, v] of Object.entries(def.vars as EnvVars)) {
        all.add(name);
        for (const a of v.meta.aliases ?? []) all.add(a);
      }
    }
    expect([...all].filter((n) => !named(n))).toEqual([]);
  });

  test("names the release tooling's variables and build args, and every `pipbot release` option", async () => {
    const help = await runCaptured([process.execPath, CLI, "release", "--help"], {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
    });
    const options = [...new Set(help.out.match(/--[a-z][a-z-]+/g) ?? [])];
    expect(options.length).toBeGreaterThan(5);
    expect(options.filter((o) => !DEPLOY.includes(o))).toEqual([]);
    const vars = [...help.out.matchAll(/^ {2}(PIPBOT_[A-Z_]+) /gm)].map((m) => m[1]!);
    expect(vars.length).toBe(3);
    const deployVars = [
      "GIT_SHA",
      "BUILD_TIME",
      "PIPBOT_UID",
      "PIPBOT_GID",
      "PIPBOT_GIT_SHA",
      "PIPBOT_BUILD_TIME",
    ];
    expect([...vars, ...deployVars].filter((n) => !named(n))).toEqual([]);
  });

  test("every repository file it names exists", () => {
    const paths = new Set(
      [
        ...DEPLOY.matchAll(
          /`((?:deploy|src|test|docs)\/[\w./-]+|[\w.-]+\.(?:toml|nix|json)|Dockerfile\.\w+)`/g,
        ),
      ]
        .map((m) => m[1]!)
        .filter((p) => !p.includes("<") && !p.endsWith("/")),
    );
    expect(paths.size).toBeGreaterThan(10);
    // Not in the repository, and said so: the lock to be produced, the file the image build writes.
    const elsewhere = ["flake.lock", "build-info.json"];
    const missing = [...paths].filter((p) => !existsSync(join(ROOT, p)) && !elsewhere.includes(p));
    expect(missing).toEqual([]);
  });

  test("the reverse-proxy example passes the upgrade, keeps connections open and never buffers SSE", () => {
    const nginx = /```nginx\n([\s\S]*?)```/.exec(DEPLOY)?.[1] ?? "";
    for (const line of [
      "proxy_http_version 1.1;",
      "proxy_set_header Upgrade $http_upgrade;",
      "proxy_set_header Connection $connection_upgrade;",
      "proxy_read_timeout 3600s;",
      "proxy_buffering off;",
      "proxy_pass http://127.0.0.1:18789;",
      "proxy_pass http://127.0.0.1:3000/;",
    ]) {
      expect(nginx).toContain(line);
    }
  });

  test("covers what operators need (section headings)", () => {
    const headings = [...DEPLOY.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.toLowerCase());
    for (const h of [
      "integrated or separate",
      "first deploy",
      "separate deployment",
      "secrets and environment variables",
      "provisioning",
      "releasing",
      "in place vs re-provisioning",
      "rollback",
      "disaster recovery",
      "reverse proxy",
      "troubleshooting",
    ]) {
      expect(headings.some((x) => x.includes(h)) ? h : `missing: ${h}`).toBe(h);
    }
  });
});
