import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BEGIN, END, envTable } from "../scripts/env-table.ts";
import { UPSTREAM_VARS } from "../src/supervisor/up.ts";
import { ROOT } from "./helpers/index.ts";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");

describe("README", () => {
  test("starts with exactly the two commands: run and test", () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    const cmds = firstBlock
      .split("\n")
      .map((l) => l.replace(/#.*$/, "").trim())
      .filter(Boolean);
    expect(cmds).toEqual(["./pipbot up", "./pipbot test"]);
  });

  test(".ci/run calls the README's test command", () => {
    expect(readFileSync(join(ROOT, ".ci", "run"), "utf8")).toContain("./pipbot test");
  });

  test("the environment table matches the config schemas (regenerate: bun scripts/env-table.ts --write)", () => {
    const a = readme.indexOf(BEGIN);
    const b = readme.indexOf(END);
    expect(a).toBeGreaterThan(0);
    expect(readme.slice(a + BEGIN.length, b).trim()).toBe(envTable());
  });

  test("every dependency in package.json is explained in the README", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const section = readme.slice(readme.indexOf("## Dependencies"));
    for (const name of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)]) {
      expect(section, `README must say why ${name} is a dependency`).toContain(`\`${name}\``);
    }
  });

  test("the opening section names every variable that makes `pipbot up` run `pipbot start`", () => {
    const opening = readme.slice(0, readme.indexOf("\n## "));
    for (const name of UPSTREAM_VARS)
      expect(opening, `README's opening must name ${name}`).toMatch(new RegExp(`\\b${name}\\b`));
  });

  test("the command table shows every flag of each command's --help", () => {
    const table = readme.slice(readme.indexOf("## Commands"), readme.indexOf("## Configuration"));
    for (const cmd of ["start", "demo", "check", "status", "chat"]) {
      const help = Bun.spawnSync(["bun", join(ROOT, "src", "cli.ts"), cmd, "--help"], { cwd: ROOT });
      const usage = help.stdout.toString().split("\n")[0] ?? "";
      expect(usage, `pipbot ${cmd} --help`).toStartWith(`usage: pipbot ${cmd}`);
      const row = table.split("\n").find((l) => l.startsWith(`| \`pipbot ${cmd}`)) ?? "";
      expect(row, `README's command table needs a row for pipbot ${cmd}`).not.toBe("");
      for (const flag of usage.match(/--[a-z][a-z-]*/g) ?? [])
        expect(row, `README's row for pipbot ${cmd} must show ${flag}`).toContain(flag);
    }
  });
});

describe("docs", () => {
  const docs = readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => ({ name: `docs/${f}`, text: readFileSync(join(ROOT, "docs", f), "utf8") }));
  docs.push({ name: "README.md", text: readme });

  test("every test file a doc cites exists (test/… paths, {a,b} lists, and bare `name.test.ts`)", () => {
    const testFiles = new Set(
      [...new Bun.Glob("{test,src}/**/*.test.ts").scanSync({ cwd: ROOT })].map((f) => f.split("/").pop()),
    );
    const missing: string[] = [];
    let cited = 0;
    for (const d of docs) {
      // A `{a,b,` list may continue on the next line.
      const text = d.text.replace(/,\s*\n\s*/g, ",");
      for (const [path] of text.matchAll(/\btest\/[\w./-]*(?:\{[\w.,-]+\}[\w./-]*)?\.ts\b/g)) {
        const brace = /\{([^}]*)\}/.exec(path);
        const paths = brace ? (brace[1] ?? "").split(",").map((alt) => path.replace(brace[0], alt)) : [path];
        for (const p of paths) {
          cited++;
          if (!existsSync(join(ROOT, p))) missing.push(`${d.name}: ${p}`);
        }
      }
      for (const [, name] of text.matchAll(/`([\w.-]+\.test\.ts)`/g)) {
        cited++;
        if (!testFiles.has(name)) missing.push(`${d.name}: ${name}`);
      }
    }
    expect(cited).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });
});
