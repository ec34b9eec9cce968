/**
 * A small model of a Dockerfile for offline checks: stages (parsed with dockerfile-ast), each
 * stage's instructions with flags and arguments, exec-form CMD/ENTRYPOINT, and a simulated
 * filesystem of what a stage COPYs from the build context or from earlier stages, so a test can
 * prove that every path the image runs exists ("Cannot find module" must be impossible to ship).
 */
import { readFileSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { DockerfileParser } from "dockerfile-ast";
import type { BuildContext } from "./build-context.ts";

export interface Instr {
  keyword: string;
  /** Arguments after flags, as written (shell form) or the JSON strings (exec form). */
  args: string[];
  flags: Record<string, string | null>;
  /** The raw argument text (for RUN). */
  raw: string;
  line: number;
  /** WORKDIR in effect when this instruction runs. */
  workdir: string;
  json: boolean;
}

export interface Stage {
  index: number;
  name: string | null;
  image: string;
  imageName: string;
  tag: string | null;
  digest: string | null;
  instructions: Instr[];
}

export interface DockerfileModel {
  text: string;
  stages: Stage[];
  final: Stage;
}

interface FlagLike {
  getName(): string;
  getValue(): string | null;
}

function unquote(s: string): string {
  return s.replace(/^"(.*)"$/, "$1");
}

export function parseDockerfile(path: string): DockerfileModel {
  const text = readFileSync(path, "utf8");
  const df = DockerfileParser.parse(text);
  const froms = df.getFROMs();
  if (froms.length === 0) throw new Error(`${path}: no FROM`);
  const stages: Stage[] = [];
  const all = df.getInstructions();
  for (let i = 0; i < froms.length; i++) {
    const from = froms[i]!;
    const start = from.getRange().start.line;
    const end = i + 1 < froms.length ? froms[i + 1]!.getRange().start.line : Number.POSITIVE_INFINITY;
    let workdir = "/";
    const instructions: Instr[] = [];
    for (const ins of all) {
      const line = ins.getRange().start.line;
      if (line <= start || line >= end) continue;
      const keyword = ins.getKeyword().toUpperCase();
      const flags: Record<string, string | null> = {};
      const withFlags = ins as unknown as { getFlags?: () => FlagLike[] };
      for (const f of withFlags.getFlags?.() ?? []) flags[f.getName()] = f.getValue();
      const withJson = ins as unknown as { getJSONStrings?: () => { getValue(): string }[] };
      const jsonStrings = withJson.getJSONStrings?.() ?? [];
      const json = jsonStrings.length > 0;
      const args = json
        ? jsonStrings.map((a) => unquote(a.getValue()))
        : ins
            .getArguments()
            .map((a) => a.getValue())
            .filter((a) => !a.startsWith("--"));
      if (keyword === "WORKDIR" && args[0]) workdir = posix.resolve(workdir, args[0]);
      const raw = ins.getRawArgumentsContent() ?? "";
      instructions.push({ keyword, args, flags, raw, line, workdir, json });
    }
    stages.push({
      index: i,
      name: from.getBuildStage(),
      image: from.getImage() ?? "",
      imageName: from.getImageName() ?? "",
      tag: from.getImageTag(),
      digest: from.getImageDigest(),
      instructions,
    });
  }
  return { text, stages, final: stages[stages.length - 1]! };
}

export function instructions(stage: Stage, keyword: string): Instr[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

export function lastOf(stage: Stage, keyword: string): Instr | undefined {
  return instructions(stage, keyword).at(-1);
}

/** The stage a `--from=` names: a stage name or index defined EARLIER in the file. */
export function fromStage(model: DockerfileModel, ref: string, before: Stage): Stage | undefined {
  const earlier = model.stages.filter((s) => s.index < before.index);
  return earlier.find((s) => s.name === ref || String(s.index) === ref);
}

/**
 * Directories whose CONTENTS a RUN produces and this model cannot list (an installed
 * node_modules, a Nix store closure): any path below them counts as present.
 */
function opaque(dir: string): boolean {
  return dir.endsWith("/node_modules") || dir.startsWith("/rootfs/nix") || dir.startsWith("/nix");
}

export interface SimFile {
  /** Absolute path in the image. */
  path: string;
  /** Where it came from: a context-relative path, or `stage:<name>:<path>`. */
  source: string;
}

/**
 * What a stage contains as far as this Dockerfile determines it: files COPYed from the build
 * context (expanded, .dockerignore applied), paths COPYed from earlier stages (which must be
 * produced there), WORKDIRs, and paths a RUN of the stage evidently creates.
 */
export class StageFs {
  readonly files = new Map<string, SimFile>();
  readonly produced = new Set<string>();
  readonly problems: string[] = [];

  constructor(
    readonly model: DockerfileModel,
    readonly stage: Stage,
    readonly ctx: BuildContext,
  ) {
    for (const ins of stage.instructions) {
      if (ins.keyword === "WORKDIR") this.produced.add(ins.workdir);
      if (ins.keyword === "RUN") this.addRunOutputs(ins);
      if (ins.keyword === "COPY" || ins.keyword === "ADD") this.addCopy(ins);
    }
  }

  private addRunOutputs(ins: Instr): void {
    const raw = ins.raw;
    if (/\bbun install\b/.test(raw)) this.produced.add(posix.join(ins.workdir, "node_modules"));
    for (const m of raw.matchAll(/(?:^|[\s"'=])(\/[A-Za-z0-9._/-]+)/g)) {
      this.produced.add(m[1]!.replace(/\/+$/, ""));
    }
    for (const m of raw.matchAll(/>\s*([A-Za-z0-9._/-]+)/g)) {
      this.produced.add(posix.resolve(ins.workdir, m[1]!));
    }
  }

  private addCopy(ins: Instr): void {
    const parts = ins.args;
    if (parts.length < 2) {
      this.problems.push(`line ${ins.line + 1}: ${ins.keyword} needs a source and a destination`);
      return;
    }
    const dest = parts[parts.length - 1]!;
    const sources = parts.slice(0, -1);
    const destAbs = posix.resolve(ins.workdir, dest);
    const destIsDir = dest.endsWith("/") || sources.length > 1;
    const from = ins.flags.from;
    if (from) {
      const st = fromStage(this.model, from, this.stage);
      if (!st) {
        this.problems.push(`line ${ins.line + 1}: COPY --from=${from}: no earlier stage of that name`);
        return;
      }
      const sfs = new StageFs(this.model, st, this.ctx);
      for (const src of sources) {
        const srcAbs = posix.resolve("/", src);
        if (!sfs.has(srcAbs)) {
          const where = `line ${ins.line + 1}: COPY --from=${from} ${src}`;
          this.problems.push(`${where}: stage "${from}" never creates ${srcAbs}`);
          continue;
        }
        // Docker: a directory's CONTENTS go to dest (`COPY --from=b /rootfs/ /` fills /); a file
        // goes to dest, or into it when dest is a directory.
        const srcIsDir = src.endsWith("/") || (sfs.has(srcAbs) && !sfs.files.has(srcAbs));
        const target = srcIsDir || !destIsDir ? destAbs : posix.join(destAbs, posix.basename(srcAbs));
        // A whole directory (e.g. node_modules) from another stage: the dest tree is "produced",
        // and so is whatever that stage produced below it.
        this.produced.add(target);
        for (const d of sfs.produced) {
          if (d.startsWith(`${srcAbs}/`)) this.produced.add(posix.join(target, d.slice(srcAbs.length + 1)));
        }
        for (const [p, f] of sfs.files) {
          if (p === srcAbs || p.startsWith(`${srcAbs}/`)) {
            const rel = p === srcAbs ? "" : p.slice(srcAbs.length + 1);
            const out = rel ? posix.join(target, rel) : target;
            this.files.set(out, { path: out, source: f.source });
          }
        }
      }
      return;
    }
    for (const src of sources) {
      const matches = this.ctx.expand(src);
      if (matches.length === 0) {
        const isGlob = /[*?[]/.test(src);
        const everyGlob = sources.every((s) => /[*?[]/.test(s) && this.ctx.expand(s).length === 0);
        // Like Docker: a wildcard that matches nothing is fine unless every source matches nothing.
        if (!isGlob || everyGlob) {
          const why = this.ctx.existsOnDisk(src) ? "excluded by .dockerignore" : "does not exist";
          this.problems.push(`line ${ins.line + 1}: COPY ${src}: ${why} in the build context`);
        }
        continue;
      }
      for (const m of matches) {
        const isDir = statSync(join(this.ctx.root, m)).isDirectory();
        if (isDir) {
          // COPY dir dest: the directory's CONTENTS go to dest.
          for (const f of this.ctx.filesUnder(m)) {
            const out = posix.join(destAbs, f.slice(m.length + 1));
            this.files.set(out, { path: out, source: f });
          }
          this.produced.add(destAbs);
        } else {
          const intoDir = destIsDir || matches.length > 1;
          const out = intoDir ? posix.join(destAbs, posix.basename(m)) : destAbs;
          this.files.set(out, { path: out, source: m });
        }
      }
    }
  }

  /** Whether `abs` is a file, a directory containing files, or a path a RUN/WORKDIR produced. */
  has(abs: string): boolean {
    const p = abs.replace(/\/+$/, "") || "/";
    if (this.files.has(p) || this.produced.has(p)) return true;
    for (const f of this.files.keys()) if (f.startsWith(`${p}/`)) return true;
    for (const d of this.produced) if (d.startsWith(`${p}/`)) return true;
    for (const d of this.produced) if (p.startsWith(`${d}/`) && opaque(d)) return true;
    return false;
  }

  /** The context-relative source of an image file, if it was COPYed from the build context. */
  sourceOf(abs: string): string | undefined {
    return this.files.get(abs)?.source;
  }
}

/** Exec-form command of the final stage: ENTRYPOINT + CMD. */
export function finalCommand(model: DockerfileModel): {
  entrypoint: string[];
  cmd: string[];
  workdir: string;
} {
  const ep = lastOf(model.final, "ENTRYPOINT");
  const cmd = lastOf(model.final, "CMD");
  return { entrypoint: ep?.args ?? [], cmd: cmd?.args ?? [], workdir: cmd?.workdir ?? "/" };
}
