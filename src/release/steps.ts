/**
 * Running a plan's steps one after the other through an injected `exec`: each step is announced
 * with its exact command, `--dry-run` prints without running, and the first failing step stops
 * the run and is reported with its name and exit code (nothing after it runs).
 */
import { type Step, shellQuote } from "./plan.ts";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command; `capture` collects its output, otherwise it goes to the terminal. */
export type Exec = (cmd: string[], opts: { capture: boolean }) => Promise<ExecResult>;

export interface StepFailure {
  step: string;
  code: number;
  command: string;
  /** Steps that had completed before the failure. */
  completed: string[];
}

export class StepError extends Error {
  constructor(
    readonly step: string,
    readonly code: number,
    readonly command: string,
    readonly detail: string,
  ) {
    super(`step "${step}" failed (exit ${code}): ${command}${detail ? `\n  ${detail}` : ""}`);
    this.name = "StepError";
  }
}

export async function runSteps(
  steps: Step[],
  exec: Exec,
  print: (line: string) => void,
  dryRun: boolean,
): Promise<StepFailure | null> {
  const completed: string[] = [];
  for (const s of steps) {
    print(`${dryRun ? "[dry-run] " : ""}==> ${s.name}: ${s.what}`);
    print(`    $ ${shellQuote(s.cmd)}`);
    if (dryRun) continue;
    const r = await exec(s.cmd, { capture: false });
    if (r.code !== 0) {
      if (r.stderr) print(r.stderr.trimEnd());
      return { step: s.name, code: r.code, command: shellQuote(s.cmd), completed };
    }
    completed.push(s.name);
  }
  return null;
}

/** A read-only query (git) whose output the release needs; throws a step-named error. */
export async function query(exec: Exec, step: string, cmd: string[]): Promise<string> {
  const r = await exec(cmd, { capture: true });
  if (r.code !== 0) {
    const detail = r.stderr.trim() || r.stdout.trim();
    throw new StepError(step, r.code, shellQuote(cmd), detail);
  }
  return r.stdout;
}
