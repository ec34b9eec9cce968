/**
 * What every `pipbot release` command runs with: the settings main.ts derived from argv and the
 * environment, an `exec` for external tools, a `which` to see which tools exist, two print
 * functions and a clock; and the one error a command throws for bad input (exit 2).
 */
import type { Exec } from "./steps.ts";

export interface Ctx {
  cwd: string;
  exec: Exec;
  which: (tool: string) => boolean;
  out: (line: string) => void;
  err: (line: string) => void;
  now: () => Date;
  logPath: string;
  /** PIPBOT_PROVISIONING_CMD; null when unset (an integrated release then refuses to start). */
  provisioningTemplate: string | null;
}

export class ReleaseUsageError extends Error {}
