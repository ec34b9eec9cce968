/**
 * The Docker build context as the builder sees it: the repository root minus what .dockerignore
 * excludes (moby patternmatcher semantics: `*`/`?` within one path segment, `**` across segments,
 * a pattern also excludes everything under a matching directory, `!` re-includes, last match wins).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, posix } from "node:path";

export function globToRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else {
          re += ".*";
        }
      } else {
        re += "[^/]*";
      }
    } else if (c === "?") {
      re += "[^/]";
    } else if (c === "[") {
      const close = pattern.indexOf("]", i);
      if (close < 0) re += "\\[";
      else {
        re += `[${pattern.slice(i + 1, close).replace(/^!/, "^")}]`;
        i = close;
      }
    } else {
      re += c.replace(/[.+^${}()|\\/]/g, "\\$&");
    }
  }
  return new RegExp(`^${re}$`);
}

interface Rule {
  re: RegExp;
  negate: boolean;
  pattern: string;
}

export class BuildContext {
  readonly rules: Rule[];
  private all: { path: string; dir: boolean }[] | undefined;

  constructor(
    readonly root: string,
    ignoreText?: string,
  ) {
    const file = join(root, ".dockerignore");
    const text = ignoreText ?? (existsSync(file) ? readFileSync(file, "utf8") : "");
    this.rules = text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => {
        const negate = l.startsWith("!");
        const p = posix
          .normalize((negate ? l.slice(1) : l).trim())
          .replace(/^\/+/, "")
          .replace(/\/+$/, "");
        return { re: globToRegExp(p), negate, pattern: l };
      });
  }

  /** Whether a context-relative path is excluded (it or one of its parent directories matches). */
  excluded(rel: string): boolean {
    const clean = posix.normalize(rel).replace(/^\.?\/+/, "");
    const parts = clean.split("/");
    let out = false;
    for (const rule of this.rules) {
      for (let n = 1; n <= parts.length; n++) {
        if (rule.re.test(parts.slice(0, n).join("/"))) {
          out = !rule.negate;
          break;
        }
      }
    }
    return out;
  }

  existsOnDisk(rel: string): boolean {
    return existsSync(join(this.root, rel));
  }

  /** Every non-excluded file and directory of the context (relative paths). */
  entries(): { path: string; dir: boolean }[] {
    if (this.all) return this.all;
    const out: { path: string; dir: boolean }[] = [];
    const hasNegation = this.rules.some((r) => r.negate);
    const walk = (rel: string) => {
      for (const d of readdirSync(join(this.root, rel), { withFileTypes: true })) {
        const p = rel ? `${rel}/${d.name}` : d.name;
        const ex = this.excluded(p);
        if (d.isDirectory()) {
          if (ex && !hasNegation) continue;
          if (!ex) out.push({ path: p, dir: true });
          walk(p);
        } else if (!ex) {
          out.push({ path: p, dir: false });
        }
      }
    };
    walk("");
    this.all = out;
    return out;
  }

  /** A COPY source expanded against the context: [] when missing or excluded. */
  expand(src: string): string[] {
    const clean = posix
      .normalize(src)
      .replace(/^\.?\/+/, "")
      .replace(/\/+$/, "");
    if (clean === "" || clean === ".") return ["."];
    if (/[*?[]/.test(clean)) {
      const re = globToRegExp(clean);
      return this.entries()
        .filter((e) => re.test(e.path))
        .map((e) => e.path);
    }
    if (!existsSync(join(this.root, clean)) || this.excluded(clean)) return [];
    return [clean];
  }

  /** Files (not directories) under a context directory, .dockerignore applied. */
  filesUnder(dir: string): string[] {
    return this.entries()
      .filter((e) => !e.dir && e.path.startsWith(`${dir}/`))
      .map((e) => e.path);
  }
}
