/**
 * Our image rules, as data: every check returns named violations, so the tests can assert that
 * both Dockerfiles have none AND that a broken fixture trips every single rule.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { BuildContext } from "./build-context.ts";
import {
  type DockerfileModel,
  finalCommand,
  instructions,
  lastOf,
  parseDockerfile,
  StageFs,
} from "./dockerfile-model.ts";

export const IMAGE_RULES = [
  "pinned-base",
  "multi-stage",
  "frozen-install",
  "non-root",
  "tini",
  "healthcheck",
  "stopsignal",
  "build-identity",
  "copy-paths",
  "run-paths",
] as const;
export type ImageRule = (typeof IMAGE_RULES)[number];

export interface ImageViolation {
  rule: ImageRule;
  message: string;
}

const EXACT_VERSION = /^\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/;
const FROZEN_PRODUCTION = /bun install\b(?=[^\n&|;]*--frozen-lockfile)(?=[^\n&|;]*--production)/;
/** Packages a final-stage `apt-get install` provides, and the binaries the rules look for. */
const APT_BINARIES: Record<string, string[]> = {
  tini: ["/usr/bin/tini"],
  "util-linux": ["/usr/bin/setpriv"],
};

/** Every stage's simulated filesystem (COPY problems included). */
export function stageFilesystems(model: DockerfileModel, root: string): StageFs[] {
  const ctx = new BuildContext(root);
  return model.stages.map((s) => new StageFs(model, s, ctx));
}

export function pinProblems(model: DockerfileModel): string[] {
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

function aptInstalled(model: DockerfileModel): Set<string> {
  const out = new Set<string>();
  for (const r of instructions(model.final, "RUN")) {
    for (const m of r.raw.matchAll(/apt-get install\b([^&|;]*)/g)) {
      for (const word of m[1]!.split(/\s+/)) {
        for (const bin of APT_BINARIES[word] ?? []) out.add(bin);
      }
    }
  }
  return out;
}

/** Whether an absolute image path exists: COPYed, produced by a RUN, or apt-installed. */
function present(fs: StageFs, apt: Set<string>, path: string): boolean {
  return apt.has(path) || fs.has(path);
}

/** The exec-form command of a HEALTHCHECK (`… CMD ["bun", "-e", "…"]`), [] for the shell form. */
export function healthcheckExec(raw: string): string[] {
  const json = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(raw)?.[1];
  if (!json) return [];
  try {
    const parsed = JSON.parse(json) as unknown;
    return Array.isArray(parsed) ? parsed.map(String) : [];
  } catch {
    return [];
  }
}

/** The script an entrypoint runs under tini, if it is one COPYed from the build context. */
function entrypointScript(fs: StageFs, entrypoint: string[]): string | undefined {
  const script = entrypoint.find((a, i) => i > 0 && a.startsWith("/") && fs.sourceOf(a));
  return script ? fs.sourceOf(script) : undefined;
}

/**
 * Every violation of our image rules. `root` is the build context; `port` the service the
 * HEALTHCHECK must probe (its env variable name or its number must appear); `flake` the flake
 * file whose derivation runs the frozen install when the Dockerfile builds with Nix.
 */
export function imageProblems(
  dockerfile: string,
  root: string,
  o: { portVar: string; port: number; flake?: string },
): ImageViolation[] {
  const model = parseDockerfile(dockerfile);
  const out: ImageViolation[] = [];
  const add = (rule: ImageRule, message: string) => out.push({ rule, message });
  const final = model.final;
  const all = stageFilesystems(model, root);
  const fs = all.at(-1)!;
  const apt = aptInstalled(model);
  const { entrypoint, cmd, workdir } = finalCommand(model);

  for (const p of pinProblems(model)) add("pinned-base", p);
  if (model.stages.length < 2) add("multi-stage", "one stage: build tools and caches ship in the image");

  const runs = model.stages.flatMap((s) => instructions(s, "RUN").map((r) => r.raw));
  const nixBuild = runs.some((r) => /\bnix\b.*\bbuild \.#/.test(r));
  const flakeText =
    o.flake && existsSync(join(root, o.flake)) ? readFileSync(join(root, o.flake), "utf8") : "";
  const frozen =
    runs.some((r) => FROZEN_PRODUCTION.test(r)) || (nixBuild && FROZEN_PRODUCTION.test(flakeText));
  if (!frozen)
    add("frozen-install", "no `bun install --frozen-lockfile --production` (in a RUN or the flake)");

  const user = lastOf(final, "USER")?.args[0];
  if (user !== undefined) {
    if (!/^[1-9]\d*(:[1-9]\d*)?$/.test(user))
      add("non-root", `USER ${user}: must be a numeric, non-zero uid[:gid]`);
  } else {
    // No USER: acceptable only for an entrypoint that drops root to a numeric uid (setpriv).
    const script = entrypointScript(fs, entrypoint);
    const text = script && existsSync(join(root, script)) ? readFileSync(join(root, script), "utf8") : "";
    const env = instructions(final, "ENV")
      .map((i) => i.raw)
      .join(" ");
    const uid = Number(/PIPBOT_UID=(\d+)/.exec(env)?.[1] ?? 0);
    const drops = /exec setpriv --reuid="\$uid" --regid="\$gid" --clear-groups/.test(text);
    if (!(drops && uid > 0)) add("non-root", "no USER and no entrypoint that drops root to a numeric uid");
  }

  const tini = entrypoint[0] ?? "";
  if (!(tini.endsWith("/tini") && entrypoint[1] === "--" && present(fs, apt, tini))) {
    add("tini", `ENTRYPOINT ${JSON.stringify(entrypoint)}: must be an installed tini, then --`);
  }

  const hc = lastOf(final, "HEALTHCHECK");
  if (!hc?.raw.includes("/healthz") || !(hc.raw.includes(o.portVar) || hc.raw.includes(String(o.port)))) {
    add("healthcheck", `no HEALTHCHECK of /healthz on ${o.portVar} (${o.port})`);
  }
  const stop = lastOf(final, "STOPSIGNAL")?.args[0];
  if (!stop || !["SIGTERM", "SIGINT"].includes(stop))
    add("stopsignal", `STOPSIGNAL ${stop}: SIGTERM or SIGINT`);

  const args = instructions(final, "ARG").map((a) => a.args[0]?.split("=")[0]);
  const baked = [...instructions(final, "RUN"), ...instructions(final, "ENV")].some(
    (i) => i.raw.includes("$GIT_SHA") && i.raw.includes("$BUILD_TIME"),
  );
  if (!args.includes("GIT_SHA") || !args.includes("BUILD_TIME") || !baked) {
    add("build-identity", "ARG GIT_SHA and ARG BUILD_TIME must be baked in (build-info.json or ENV)");
  }

  for (const f of all) for (const p of f.problems) add("copy-paths", p);

  // What the container runs: absolute paths must exist; a relative script argument (src/cli.ts)
  // must have been COPYed relative to WORKDIR. Bare commands (bun) come from the base image.
  const hcArgs = healthcheckExec(hc?.raw ?? "");
  for (const a of [...entrypoint, ...cmd, ...hcArgs]) {
    if (a.startsWith("/") && !present(fs, apt, a)) add("run-paths", `${a}: not in the image`);
    if (/^[\w.-]+(\/[\w.-]+)*\.(ts|js|sh)$/.test(a) && !fs.sourceOf(posix.resolve(workdir, a))) {
      add("run-paths", `${a}: not in the image at ${posix.resolve(workdir, a)}`);
    }
  }
  return out;
}
