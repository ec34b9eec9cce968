/**
 * Checks on what an image will RUN: the import graph of the CLI inside the simulated final stage
 * (every relative import present, every package a production dependency), and a real
 * `bun build` over a staged copy of that stage with production dependencies only.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { ROOT } from "../../helpers/index.ts";
import type { StageFs } from "./dockerfile-model.ts";
import { runCaptured } from "./run.ts";

const BUILTIN = /^(node:|bun:|bun$)/;
const NODE_BUILTINS = new Set([
  "fs",
  "path",
  "os",
  "url",
  "util",
  "crypto",
  "events",
  "stream",
  "net",
  "http",
  "https",
  "child_process",
  "zlib",
  "buffer",
  "assert",
  "tty",
  "worker_threads",
  "readline",
  "timers",
  "string_decoder",
  "dns",
]);

export function packageName(spec: string): string {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

export function productionDependencies(root = ROOT): Set<string> {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  return new Set(Object.keys(pkg.dependencies ?? {}));
}

const EXTENSIONS = ["", ".ts", ".tsx", ".js", ".mjs", ".json", "/index.ts", "/index.js"];

/**
 * Walk the imports reachable from `entry` (an absolute image path) through files present in the
 * stage. Returns the problems: a relative import with no file in the image, or a package that the
 * production install will not provide.
 */
export function importProblems(
  fs: StageFs,
  entry: string,
  prodDeps: Set<string>,
): { problems: string[]; visited: string[] } {
  const problems: string[] = [];
  const seen = new Set<string>();
  const transpiler = new Bun.Transpiler({ loader: "ts" });
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = fs.sourceOf(file);
    if (!source) {
      problems.push(`${file}: not in the image`);
      continue;
    }
    if (!/\.(ts|tsx|js|mjs)$/.test(file)) continue;
    const code = readFileSync(join(fs.ctx.root, source), "utf8").replace(/^#!.*\n/, "\n");
    for (const imp of transpiler.scanImports(code)) {
      const spec = imp.path;
      if (spec.startsWith(".") || spec.startsWith("/")) {
        const base = posix.resolve(posix.dirname(file), spec);
        const hit = EXTENSIONS.map((e) => base + e).find((p) => fs.sourceOf(p) !== undefined);
        if (!hit) problems.push(`${file}: imports ${spec}, which is not in the image`);
        else queue.push(hit);
      } else if (!BUILTIN.test(spec) && !NODE_BUILTINS.has(packageName(spec))) {
        if (!prodDeps.has(packageName(spec))) {
          problems.push(`${file}: imports "${spec}", which is not a production dependency (not installed)`);
        }
      }
    }
  }
  return { problems, visited: [...seen] };
}

/**
 * Materialise the stage's context files under `dir` (keeping their image paths relative to
 * `appDir`) with a node_modules holding ONLY the production dependencies, then run the same
 * `bun build` the image build runs. Returns bun's exit code and output.
 */
export function stageCopy(fs: StageFs, appDir: string, dir: string, prodDeps: Set<string>): void {
  for (const [path, f] of fs.files) {
    if (!path.startsWith(`${appDir}/`) || f.source.startsWith("stage:")) continue;
    const out = join(dir, path.slice(appDir.length + 1));
    mkdirSync(dirname(out), { recursive: true });
    cpSync(join(fs.ctx.root, f.source), out);
  }
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  for (const dep of prodDeps) {
    const real = join(ROOT, "node_modules", dep);
    if (!existsSync(real)) continue;
    mkdirSync(dirname(join(dir, "node_modules", dep)), { recursive: true });
    symlinkSync(real, join(dir, "node_modules", dep));
  }
}

export async function bunBuild(dir: string, entry: string): Promise<{ code: number; output: string }> {
  const outdir = `--outdir=${join(dir, ".resolve-check")}`;
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };
  const r = await runCaptured([process.execPath, "build", "--target=bun", outdir, entry], env, { cwd: dir });
  return { code: r.code, output: r.out + r.err };
}
