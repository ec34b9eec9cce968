/** `pipbot chat`: which gateway token it uses, and where that token was found. */
import { resolve } from "node:path";
import { withDataDirFrom } from "../shared/config/index.ts";
import { newestTokenDir, readTokenFile, tokenFilePath } from "../shared/gateway-token.ts";

/**
 * Where the token comes from: --token, the environment, else the file a gateway without a
 * configured token generated in its DATA_DIR ($DATA_DIR, else whichever of ./data and ./data/demo
 * a gateway started from last), relative ones against `base`, the Procfile's directory (the
 * supervisor's rule, withDataDirFrom).
 */
export function findToken(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  base: string,
): { token: string; source: string } | undefined {
  if (flag) return { token: flag, source: "--token" };
  for (const name of ["CLAWDBOT_GATEWAY_TOKEN", "OPENCLAW_GATEWAY_TOKEN"]) {
    const v = env[name]?.trim();
    if (v) return { token: v, source: name };
  }
  // With no DATA_DIR: ./data (pipbot start) or ./data/demo (pipbot demo), whichever gateway started last.
  const dir = env.DATA_DIR?.trim()
    ? withDataDirFrom(env, base).DATA_DIR
    : newestTokenDir(["./data", "./data/demo"].map((d) => resolve(base, d)));
  const t = dir ? readTokenFile(dir) : undefined;
  return dir && t ? { token: t, source: tokenFilePath(dir) } : undefined;
}
