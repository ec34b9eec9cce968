/** Run a command to completion with a clean environment and capture its output (deploy tests). */
export interface Captured {
  code: number;
  out: string;
  err: string;
}

export async function runCaptured(
  cmd: string[],
  env: Record<string, string>,
  opts: { cwd?: string } = {},
): Promise<Captured> {
  const proc = Bun.spawn(cmd, { env, cwd: opts.cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, out, err };
}
