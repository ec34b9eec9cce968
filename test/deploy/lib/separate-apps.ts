/**
 * The separate deployment as its real configs describe it, for the end-to-end tests: the AI app
 * (fly.toml's [env]: AI_HOST=::, token required) and the user VM (deploy/fly-separate-vm.toml:
 * `pipbot start --only gateway,sync`).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { childEnv, freePort, ROOT, type RunningProcess, spawnPipbot, waitFor } from "../../helpers/index.ts";
import { readToml } from "./fly-rules.ts";

export const AI_APP = readToml(join(ROOT, "fly.toml"));
export const VM = readToml(join(ROOT, "deploy/fly-separate-vm.toml"));
/** The VM's command without `bun src/cli.ts`: ["start", "--only", "gateway,sync"]. */
export const VM_ARGS = (VM.processes?.app ?? "").split(" ").slice(2);
/** ::1 on lo: IPv6 works here. Without it (some CI containers) `::` may not bind: use 0.0.0.0, also non-loopback. */
export const HAVE_V6 =
  existsSync("/proc/net/if_inet6") && /^0{31}1 .* lo$/m.test(readFileSync("/proc/net/if_inet6", "utf8"));

/** The HTTP status of `url` (0 when nothing answers); redirects are not followed. */
export async function httpStatus(url: string, init?: RequestInit): Promise<number> {
  try {
    return (await fetch(url, { ...init, redirect: "manual" })).status;
  } catch {
    return 0;
  }
}

/**
 * `pipbot ai` with fly.toml's [env] (a non-loopback bind, so the token is required), on a free
 * port, plus `env`; resolves once /healthz answers 200.
 */
export async function spawnAiApp(opts: {
  token: string;
  dataDir: string;
  env: Record<string, string>;
}): Promise<{ proc: RunningProcess; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  if (AI_APP.env?.AI_HOST !== "::")
    throw new Error(`fly.toml binds AI_HOST=${AI_APP.env?.AI_HOST}, expected ::`);
  const proc = spawnPipbot(
    ["ai"],
    childEnv({
      ...AI_APP.env,
      ...(HAVE_V6 ? {} : { AI_HOST: "0.0.0.0" }),
      AI_PORT: String(port),
      AI_SERVER_TOKEN: opts.token,
      DATA_DIR: opts.dataDir,
      ...opts.env,
    }),
  );
  await waitFor(async () => (await httpStatus(`${url}/healthz`)) === 200, {
    timeoutMs: 20_000,
    what: "the AI server's /healthz",
  });
  return { proc, url };
}
