/**
 * Dockerfile.integrated and Dockerfile.nix, verified offline (no Docker engine): they parse with
 * dockerfile-ast and pass our image rules (test/deploy/lib/image-rules.ts: pinned bases,
 * multi-stage, frozen production install, non-root numeric user, tini, HEALTHCHECK, STOPSIGNAL,
 * build identity, and — the failure operators actually shipped — every path the image COPYs or
 * runs exists in the build context after .dockerignore or in an earlier stage). Broken fixtures
 * prove that every rule reports a violation. On top: the CLI's whole import graph is in the image
 * with production dependencies only, and a real `bun build` resolves it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir } from "../helpers/index.ts";
import { BuildContext } from "./lib/build-context.ts";
import { finalCommand, instructions, parseDockerfile } from "./lib/dockerfile-model.ts";
import { bunBuild, importProblems, productionDependencies, stageCopy } from "./lib/image-check.ts";
import { IMAGE_RULES, imageProblems, stageFilesystems } from "./lib/image-rules.ts";
import { missing, tripped } from "./lib/violations.ts";

const BUN_VERSION = "1.4.5";
const INTEGRATED = join(ROOT, "Dockerfile.integrated");
const NIX = join(ROOT, "Dockerfile.nix");
const temps: { cleanup(): void }[] = [];
afterAll(() => {
  for (const t of temps) t.cleanup();
});

/** The simulated filesystem of a stage (default: the final one). */
function stageFs(dockerfile: string, root: string, stage = -1) {
  return stageFilesystems(parseDockerfile(dockerfile), root).at(stage)!;
}

describe("both Dockerfiles pass every image rule", () => {
  test("Dockerfile.integrated", () => {
    expect(imageProblems(INTEGRATED, ROOT, { portVar: "GATEWAY_PORT", port: 18789 })).toEqual([]);
  });

  test("Dockerfile.nix (the frozen install runs in the flake's nodeModules derivation)", () => {
    expect(imageProblems(NIX, ROOT, { portVar: "AI_PORT", port: 3000, flake: "flake.nix" })).toEqual([]);
  });
});

describe("every rule can fail (fixtures)", () => {
  const root = join(ROOT, "test/fixtures/deploy/broken-image");
  const opts = { portVar: "APP_PORT", port: 8080 };

  test("broken-image/Dockerfile trips every rule but multi-stage", () => {
    const problems = imageProblems(join(root, "Dockerfile"), root, opts);
    expect(tripped(problems)).toEqual(IMAGE_RULES.filter((r) => r !== "multi-stage").sort());
    const expected = [
      "pinned-base: FROM oven/bun:latest: :latest is a stale pointer",
      "pinned-base: FROM oven/bun: no tag (means :latest)",
      'copy-paths: line 13: COPY --from=builder /build/dist: stage "builder" never creates /build/dist',
      "COPY --from=bundler: no earlier stage",
      "COPY secrets.env: excluded by .dockerignore",
      "non-root: USER bun: must be a numeric",
      "run-paths: src/cli.ts: not in the image at /app/src/cli.ts",
      "run-paths: /usr/local/bin/docker-entrypoint.sh: not in the image",
    ];
    expect(missing(problems, expected)).toEqual([]);
  });

  test("single-stage.Dockerfile trips multi-stage only", () => {
    const problems = imageProblems(join(root, "single-stage.Dockerfile"), root, opts);
    expect(problems.map((p) => p.rule)).toEqual(["multi-stage"]);
  });

  test("a missing relative import and a dev-only package are reported by the import-graph check", () => {
    const fs = stageFs(join(root, "Dockerfile"), root);
    const { problems } = importProblems(fs, "/app/src/main.ts", productionDependencies(root));
    const text = problems.join("\n");
    expect(text).toContain("imports ./helper.ts, which is not in the image");
    expect(text).toContain('imports "ws", which is not a production dependency');
  });

  test("the Nix image's run paths come only from what the build stage checks (test -x)", () => {
    const text = readFileSync(NIX, "utf8").replace("&& test -x /rootfs/env/bin/tini \\\n", "");
    const t = tempDir("pipbot-nix-dockerfile-");
    temps.push(t);
    const edited = join(t.path, "Dockerfile.nix");
    writeFileSync(edited, text);
    const problems = imageProblems(edited, ROOT, { portVar: "AI_PORT", port: 3000, flake: "flake.nix" });
    expect(problems.map((p) => p.message)).toEqual([
      'ENTRYPOINT ["/env/bin/tini","--"]: must be an installed tini, then --',
      "/env/bin/tini: not in the image",
    ]);
  });
});

describe("Dockerfile.integrated specifics", () => {
  const model = parseDockerfile(INTEGRATED);

  test("pins the exact Bun of this repo (package.json engines, the running Bun, flake.nix)", () => {
    const pinned = new RegExp(`^oven/bun:${BUN_VERSION.replace(/\./g, "\\.")}-(debian|slim)$`);
    for (const s of model.stages) expect(s.image).toMatch(pinned);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { bun: string } };
    expect(pkg.engines.bun).toContain(BUN_VERSION);
    expect(Bun.version).toBe(BUN_VERSION);
    expect(readFileSync(join(ROOT, "flake.nix"), "utf8")).toContain(`bunVersion = "${BUN_VERSION}"`);
  });

  test("runs the supervisor through tini and the volume entrypoint; bakes the identity into build-info.json", () => {
    const { entrypoint, cmd, workdir } = finalCommand(model);
    expect(entrypoint).toEqual(["/usr/bin/tini", "--", "/app/deploy/entrypoint.sh"]);
    expect(cmd).toEqual(["bun", "src/cli.ts", "start"]);
    expect(workdir).toBe("/app");
    const runs = instructions(model.final, "RUN").map((r) => r.raw);
    expect(runs.some((r) => r.includes("chmod 0755 deploy/entrypoint.sh"))).toBe(true);
    const bake = instructions(model.final, "RUN").find((r) => r.raw.includes("build-info.json"));
    expect(bake?.raw).toContain('"gitSha":"%s","buildTime":"%s"');
    expect(bake?.workdir).toBe("/app");
  });

  test("the image holds what the supervisor reads: package.json, Procfile and every Procfile script", () => {
    const fs = stageFs(INTEGRATED, ROOT);
    for (const f of ["package.json", "Procfile", "bunfig.toml", "tsconfig.json"]) {
      expect(fs.sourceOf(`/app/${f}`)).toBe(f);
    }
    expect(fs.has("/app/node_modules")).toBe(true);
    const procfile = readFileSync(join(ROOT, "Procfile"), "utf8");
    const lines = procfile.split("\n").filter((l) => /^\w+:/.test(l));
    expect(lines.length).toBe(3);
    for (const line of lines) {
      const file = /\b(src\/\S+\.ts)\b/.exec(line)?.[1];
      expect(file ? fs.sourceOf(`/app/${file}`) : `no script in "${line}"`).toBe(file ?? "");
    }
  });

  test("the CLI's import graph is in the image, with production dependencies only", () => {
    const fs = stageFs(INTEGRATED, ROOT);
    const { problems, visited } = importProblems(fs, "/app/src/cli.ts", productionDependencies());
    expect(problems).toEqual([]);
    expect(visited.length).toBeGreaterThan(10);
  });

  test("bun build resolves every module in a staged copy of the final stage (production node_modules)", async () => {
    const fs = stageFs(INTEGRATED, ROOT);
    const dir = tempDir("pipbot-image-stage-");
    temps.push(dir);
    stageCopy(fs, "/app", dir.path, productionDependencies());
    const res = await bunBuild(dir.path, "src/cli.ts");
    expect(res.output).not.toContain("Could not resolve");
    expect(res.code).toBe(0);
  });
});

describe("Dockerfile.nix specifics", () => {
  const model = parseDockerfile(NIX);

  test("the build stage builds the flake package whose binaries the final stage runs", () => {
    const run = instructions(model.stages[0]!, "RUN")
      .map((r) => r.raw)
      .join("\n");
    const attr = /build \.#([\w-]+)/.exec(run)?.[1];
    expect(attr).toBe("ai-server-bundle");
    const flake = readFileSync(join(ROOT, "flake.nix"), "utf8");
    expect(flake).toContain(`${attr} = pkgs.buildEnv`);
    expect(flake).toContain('bin = "pipbot-ai"');
    expect(run).toContain("chmod 1777 /rootfs/tmp");
    expect(run).toContain("test -f /rootfs/env/etc/ssl/certs/ca-bundle.crt");
    const env = instructions(model.final, "ENV")
      .map((i) => i.raw)
      .join(" ");
    expect(env).toContain("SSL_CERT_FILE=/env/etc/ssl/certs/ca-bundle.crt");
    expect(env).toContain("AI_HOST=::");
  });

  test("the build stage has every file the flake reads", () => {
    const fs = stageFs(NIX, ROOT, 0);
    for (const f of [
      "flake.nix",
      "package.json",
      "bun.lock",
      "deploy/nix-deps.json",
      "src/cli.ts",
      "Procfile",
    ]) {
      expect(fs.sourceOf(`/build/${f}`)).toBe(f);
    }
  });
});

describe(".dockerignore", () => {
  const ctx = new BuildContext(ROOT);

  test("keeps the build context small and free of local state", () => {
    const local = ["node_modules/zod/package.json", ".git/HEAD", "test/helpers/index.ts", "bench/x.ts"];
    for (const p of [...local, "data/pipbot.db", ".env", "src/shared/log.test.ts", ".release-log.jsonl"]) {
      expect(`${p}: ${ctx.excluded(p)}`).toBe(`${p}: true`);
    }
  });

  test("never excludes what an image needs", () => {
    const needed = [
      "package.json",
      "bun.lock",
      "src/cli.ts",
      "Procfile",
      "deploy/entrypoint.sh",
      "flake.nix",
    ];
    for (const p of [...needed, "deploy/nix-deps.json", "src/shared/log.ts"]) {
      expect(`${p}: ${ctx.excluded(p)}`).toBe(`${p}: false`);
    }
  });
});
