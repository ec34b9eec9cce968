/**
 * The leak check (test/helpers/leak-check.ts, preloaded for every test file) can fail: a file that
 * leaves a server and a detached child alive fails the run, naming the file and both leftovers
 * (which it then kills); a file that cleans up passes; the failure belongs to the file that leaked,
 * not to the first test of the file that runs next.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { childEnv, ROOT, spawnCaptured, waitFor } from "./helpers/index.ts";

const FIXTURES = join("test", "fixtures", "leak-check");

async function runFixture(...names: string[]) {
  const files = names.map((name) => `./${join(FIXTURES, name)}`);
  const p = spawnCaptured(["bun", "test", ...files], childEnv(), { cwd: ROOT });
  return { code: await p.exited, out: p.output() };
}

const alive = (pid: number) => {
  try {
    return !/^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

test("a file that leaves a server and a detached child alive fails the run, naming both", async () => {
  const { code, out } = await runFixture("leaks-a-server-and-a-child.ts");
  expect(code).not.toBe(0);
  expect(out).toContain(
    `leak check: ${join(FIXTURES, "leaks-a-server-and-a-child.ts")} left 2 thing(s) alive`,
  );
  expect(out).toMatch(/a server listening on port \d+/);
  const pid = Number(/process (\d+): sleep 30/.exec(out)?.[1]);
  expect(pid).toBeGreaterThan(0);
  await waitFor(() => !alive(pid), { what: `the leaked child ${pid} killed by the check` });
}, 60_000); // the check waits 5 s for leftovers to go away: over bun test's 5 s default

test("a file that stops what it started passes", async () => {
  const { code, out } = await runFixture("clean.ts");
  expect(out).not.toContain("leak check");
  expect(code).toBe(0);
}, 60_000);

test("the leak fails the file that leaked, not the next file's first test", async () => {
  const leaky = join(FIXTURES, "leaks-a-server-and-a-child.ts");
  const clean = join(FIXTURES, "clean.ts");
  const { code, out } = await runFixture("leaks-a-server-and-a-child.ts", "clean.ts");
  expect(code).not.toBe(0);
  const report = out.indexOf(`leak check: ${leaky} left 2 thing(s) alive`);
  expect(report).toBeGreaterThan(out.indexOf(`${leaky}:`));
  expect(report).toBeLessThan(out.indexOf(`${clean}:`));
  expect(out).toContain("(pass) cleans up");
  expect(out).not.toMatch(/reported in test\//);
  const pid = Number(/process (\d+): sleep 30/.exec(out)?.[1]);
  await waitFor(() => !alive(pid), { what: `the leaked child ${pid} killed by the check` });
}, 60_000);
