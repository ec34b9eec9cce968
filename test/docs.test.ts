import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BEGIN, END, envTable } from "../scripts/env-table.ts";
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
});
