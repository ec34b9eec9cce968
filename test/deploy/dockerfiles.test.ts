/**
 * Dockerfile.integrated and Dockerfile.nix, verified offline (no Docker engine): they parse, pin
 * their bases, follow our image rules, and — the failure operators actually shipped — every path
 * the final stage COPYs or runs exists in the build context (after .dockerignore) or an earlier
 * stage, and the CLI's whole import graph is present with production dependencies only.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir } from "../helpers/index.ts";
import { BuildContext } from "./lib/build-context.ts";
import { finalCommand, instructions, lastOf, parseDockerfile, StageFs } from "./lib/dockerfile-model.ts";
import { bunBuild, importProblems, productionDependencies, stageCopy } from "./lib/image-check.ts";

const EXACT_VERSION = /^\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/;
const BUN_VERSION = "1.4.5";
const temps: { cleanup(): void }[] = [];
afterAll(() => {
  for (const t of temps) t.cleanup();
});

function pinProblems(path: string): string[] {
  const model = parseDockerfile(path);
  const out: string[] = [];
  for (const s of model.stages) {
    if (s.imageName === "scratch") continue;
    if (model.stages.some((o) => o.index < s.index && o.name === s.imageName)) continue;
    const version = (s.tag ?? "").replace(/-(debian|slim|alpine|distroless)$/, "");
    if (!s.tag && !s.digest) out.push(`FROM ${s.image}: no tag (means :latest)`);
    else if (s.tag === "latest") out.push(`FROM ${s.image}: :latest is a stale pointer`);
    else if (s.tag && !EXACT_VERSION.test(version)) out.push(`FROM ${s.image}: tag is not an exact version`);
  }
  return out;
}

/** Every stage's COPY problems, and the simulated filesystem of one stage (default: the final). */
function contextProblems(
  dockerfile: string,
  root: string,
  stage?: number,
): { fs: StageFs; problems: string[] } {
  const model = parseDockerfile(dockerfile);
  const ctx = new BuildContext(root);
  const all = model.stages.map((s) => new StageFs(model, s, ctx));
  return { fs: all[stage ?? all.length - 1]!, problems: all.flatMap((f) => f.problems) };
}

describe("Dockerfile.integrated", () => {
  const path = join(ROOT, "Dockerfile.integrated");
  const model = parseDockerfile(path);
  const final = model.final;

  test("pins its bases to the exact Bun of this repo (never latest), multi-stage", () => {
    expect(pinProblems(path)).toEqual([]);
    expect(model.stages.length).toBeGreaterThanOrEqual(2);
    const pinned = new RegExp(`^oven/bun:${BUN_VERSION.replace(/\./g, "\\.")}-(debian|slim)$`);
    for (const s of model.stages) expect(s.image).toMatch(pinned);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { bun: string } };
    expect(pkg.engines.bun).toContain(BUN_VERSION);
    expect(Bun.version).toBe(BUN_VERSION);
  });

  test("installs production dependencies from the frozen lockfile", () => {
    const runs = model.stages.flatMap((s) => instructions(s, "RUN").map((r) => r.raw));
    expect(runs.some((r) => /bun install\b.*--frozen-lockfile/.test(r) && /--production\b/.test(r))).toBe(
      true,
    );
  });

  test("runs as a numeric non-root user: the entrypoint drops root after chowning the volume", () => {
    const env = instructions(final, "ENV")
      .map((i) => i.raw)
      .join(" ");
    const uid = /PIPBOT_UID=(\d+)/.exec(env)?.[1];
    expect(Number(uid)).toBeGreaterThan(0);
    const user = lastOf(final, "USER");
    if (user) expect(user.args[0]).toMatch(/^[1-9]\d*(:\d+)?$/);
    const script = readFileSync(join(ROOT, "deploy/entrypoint.sh"), "utf8");
    expect(script).toContain('exec setpriv --reuid="$uid" --regid="$gid" --clear-groups');
    expect(script).toContain("PIPBOT_UID:-");
  });

  test("tini is the entrypoint (and installed), STOPSIGNAL is handled, HEALTHCHECK hits /healthz", () => {
    const { entrypoint, cmd } = finalCommand(model);
    expect(entrypoint[0]).toBe("/usr/bin/tini");
    expect(entrypoint[1]).toBe("--");
    expect(instructions(final, "RUN").some((r) => /apt-get install\b[^&]*\btini\b/.test(r.raw))).toBe(true);
    expect(cmd).toEqual(["bun", "src/cli.ts", "start"]);
    expect(["SIGTERM", "SIGINT"]).toContain(lastOf(final, "STOPSIGNAL")?.args[0] ?? "");
    const hc = lastOf(final, "HEALTHCHECK");
    expect(hc?.raw).toContain("/healthz");
    expect(hc?.raw).toContain("GATEWAY_PORT");
  });

  test("bakes the git SHA and build time from build args into build-info.json", () => {
    const args = instructions(final, "ARG").map((a) => a.args[0]?.split("=")[0]);
    expect(args).toContain("GIT_SHA");
    expect(args).toContain("BUILD_TIME");
    const bake = instructions(final, "RUN").find((r) => r.raw.includes("build-info.json"));
    expect(bake?.raw).toContain('"$GIT_SHA"');
    expect(bake?.raw).toContain('"$BUILD_TIME"');
    expect(bake?.workdir).toBe("/app");
  });

  test("every COPY source exists in the build context (after .dockerignore) or an earlier stage", () => {
    const { problems } = contextProblems(path, ROOT);
    expect(problems).toEqual([]);
  });

  test("what the container runs is in the image: CMD script, entrypoint, package.json, Procfile, node_modules", () => {
    const { fs } = contextProblems(path, ROOT);
    const { entrypoint, cmd, workdir } = finalCommand(model);
    expect(workdir).toBe("/app");
    const script = `${workdir}/${cmd[1]}`;
    expect(fs.sourceOf(script)).toBe("src/cli.ts");
    expect(fs.sourceOf(entrypoint[2]!)).toBe("deploy/entrypoint.sh");
    // Executable in the image whatever mode git gave the file.
    const runs = instructions(final, "RUN").map((r) => r.raw);
    expect(runs.some((r) => r.includes("chmod 0755 deploy/entrypoint.sh"))).toBe(true);
    for (const f of ["package.json", "Procfile", "bunfig.toml", "tsconfig.json"]) {
      expect(fs.sourceOf(`/app/${f}`)).toBe(f);
    }
    expect(fs.has("/app/node_modules")).toBe(true);
    // The Procfile's commands run files that are in the image too.
    const procfile = readFileSync(join(ROOT, "Procfile"), "utf8");
    for (const line of procfile.split("\n").filter((l) => /^\w+:/.test(l))) {
      const file = /\b(src\/\S+\.ts)\b/.exec(line)?.[1];
      expect(file ? fs.sourceOf(`/app/${file}`) : "no script").toBe(file ?? "");
    }
  });

  test("the CLI's import graph is in the image, with production dependencies only", () => {
    const { fs } = contextProblems(path, ROOT);
    const { problems, visited } = importProblems(fs, "/app/src/cli.ts", productionDependencies());
    expect(problems).toEqual([]);
    expect(visited.length).toBeGreaterThan(10);
  });

  test("bun build resolves every module in a staged copy of the final stage (production node_modules)", async () => {
    const { fs } = contextProblems(path, ROOT);
    const dir = tempDir("pipbot-image-stage-");
    temps.push(dir);
    stageCopy(fs, "/app", dir.path, productionDependencies());
    const res = await bunBuild(dir.path, "src/cli.ts");
    expect(res.output).not.toContain("Could not resolve");
    expect(res.code).toBe(0);
  });
});

describe("Dockerfile.nix", () => {
  const path = join(ROOT, "Dockerfile.nix");
  const model = parseDockerfile(path);
  const final = model.final;

  test("pins its base, is multi-stage, runs as a numeric non-root user with tini, certs and /tmp", () => {
    expect(pinProblems(path)).toEqual([]);
    expect(model.stages.length).toBeGreaterThanOrEqual(2);
    expect(lastOf(final, "USER")?.args[0]).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    const { entrypoint, cmd } = finalCommand(model);
    expect(entrypoint).toEqual(["/env/bin/tini", "--"]);
    expect(cmd).toEqual(["/env/bin/pipbot-ai"]);
    const env = instructions(final, "ENV")
      .map((i) => i.raw)
      .join(" ");
    expect(env).toContain("SSL_CERT_FILE=/env/etc/ssl/certs/ca-bundle.crt");
    expect(env).toContain("PIPBOT_GIT_SHA=$GIT_SHA");
    expect(env).toContain("PIPBOT_BUILD_TIME=$BUILD_TIME");
    expect(env).toContain("AI_HOST=::");
    expect(["SIGTERM", "SIGINT"]).toContain(lastOf(final, "STOPSIGNAL")?.args[0] ?? "");
    expect(lastOf(final, "HEALTHCHECK")?.raw).toContain("/healthz");
  });

  test("the build stage builds the flake package whose binaries the final stage runs", () => {
    const build = model.stages[0]!;
    const run = instructions(build, "RUN")
      .map((r) => r.raw)
      .join("\n");
    const attr = /build \.#([\w-]+)/.exec(run)?.[1];
    expect(attr).toBe("ai-server-bundle");
    const flake = readFileSync(join(ROOT, "flake.nix"), "utf8");
    expect(flake).toContain(`${attr} = pkgs.buildEnv`);
    expect(flake).toContain('bin = "pipbot-ai"');
    expect(run).toContain("chmod 1777 /rootfs/tmp");
    for (const bin of ["pipbot-ai", "tini", "bun"]) expect(run).toContain(`test -x /rootfs/env/bin/${bin}`);
  });

  test("every COPY source exists in the build context or an earlier stage", () => {
    const { fs, problems } = contextProblems(path, ROOT, 0);
    expect(problems).toEqual([]);
    expect(fs.sourceOf("/build/flake.nix")).toBe("flake.nix");
    expect(fs.sourceOf("/build/src/cli.ts")).toBe("src/cli.ts");
    expect(fs.sourceOf("/build/deploy/nix-deps.json")).toBe("deploy/nix-deps.json");
  });
});

describe(".dockerignore", () => {
  const ctx = new BuildContext(ROOT);

  test("keeps the build context small and free of local state", () => {
    const local = ["node_modules/zod/package.json", ".git/HEAD", "test/helpers/index.ts", "bench/x.ts"];
    for (const p of [...local, "data/pipbot.db", ".env", "src/shared/log.test.ts"]) {
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

describe("the checks themselves catch the failures operators shipped (fixture)", () => {
  const root = join(ROOT, "test/fixtures/deploy/broken-image");
  const path = join(root, "Dockerfile");

  test("an unpinned base and :latest are reported", () => {
    const problems = pinProblems(path);
    expect(problems.some((p) => p.includes(":latest is a stale pointer"))).toBe(true);
    expect(problems.some((p) => p.includes("no tag"))).toBe(true);
  });

  test("wrong COPY paths, a missing stage and an ignored file are reported", () => {
    const { problems } = contextProblems(path, root);
    const text = problems.join("\n");
    expect(text).toContain('stage "builder" never creates /build/dist');
    expect(text).toContain("COPY --from=bundler: no earlier stage");
    expect(text).toContain("COPY secrets.env: excluded by .dockerignore");
  });

  test("a CMD whose script is missing, a missing relative import and a dev-only package are reported", () => {
    const { fs } = contextProblems(path, root);
    const { cmd, workdir } = finalCommand(parseDockerfile(path));
    expect(fs.sourceOf(`${workdir}/${cmd[1]}`)).toBeUndefined();
    const { problems } = importProblems(fs, "/app/src/main.ts", productionDependencies(root));
    const text = problems.join("\n");
    expect(text).toContain("imports ./helper.ts, which is not in the image");
    expect(text).toContain('imports "ws", which is not a production dependency');
  });
});
