/**
 * The generated gateway token: when no CLAWDBOT_GATEWAY_TOKEN is configured on a loopback bind,
 * the gateway uses a random token kept in `DATA_DIR/gateway-token` (mode 0600), created on the
 * first start and reused on every later one, so clients keep working across restarts.
 * `pipbot chat` reads the same file when no token is given. Nothing here logs or prints.
 */
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

export const TOKEN_FILE = "gateway-token";
/** Tokens shorter than this in the file are ignored (the config's minimum for a token). */
const MIN_TOKEN_CHARS = 8;

export function tokenFilePath(dataDir: string): string {
  return join(dataDir, TOKEN_FILE);
}

/** The token stored in `dataDir`, or undefined when there is none (or it is unreadable/too short). */
export function readTokenFile(dataDir: string): string | undefined {
  try {
    const t = readFileSync(tokenFilePath(dataDir), "utf8").trim();
    return t.length >= MIN_TOKEN_CHARS && !/\s/.test(t) ? t : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The token of `dataDir/gateway-token`, created (random, 48 hex chars, mode 0600) when absent.
 * Safe against a concurrent start: the file is created exclusively, the loser reads the winner's.
 */
export function loadOrCreateToken(dataDir: string): { token: string; path: string; created: boolean } {
  const path = tokenFilePath(dataDir);
  const existing = readTokenFile(dataDir);
  if (existing) {
    tightenMode(path);
    // Touch it: the newest token file is the one of the gateway started last (see newestTokenDir).
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      /* read-only data dir: the token still works */
    }
    return { token: existing, path, created: false };
  }
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString("hex");
  let fd: number;
  try {
    // "wx": fail if it exists (another process won the race, or an unusable file is in the way).
    fd = openSync(path, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    const raced = readTokenFile(dataDir);
    if (raced) return { token: raced, path, created: false };
    // An empty or malformed file: replace it.
    fd = openSync(path, "w", 0o600);
  }
  try {
    writeSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
  tightenMode(path);
  return { token, path, created: true };
}

/** Make sure only the owner can read the file (a copy or an editor may have widened it). */
function tightenMode(path: string): void {
  try {
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  } catch {
    /* best effort: reading worked, the mode is the operator's business */
  }
}

/** Of `dirs`, the one whose token file was written or used last by a gateway start (or undefined). */
export function newestTokenDir(dirs: string[]): string | undefined {
  let best: { dir: string; mtimeMs: number } | undefined;
  for (const dir of dirs) {
    if (!readTokenFile(dir)) continue;
    const { mtimeMs } = statSync(tokenFilePath(dir));
    if (!best || mtimeMs > best.mtimeMs) best = { dir, mtimeMs };
  }
  return best?.dir;
}
