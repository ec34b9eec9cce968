/**
 * Per-attempt phase timeouts (connect → first token → idle between tokens). Arming a phase replaces
 * the previous one; when one expires the attempt is aborted and `expired` names the phase.
 */
import { PipbotError } from "../shared/errors.ts";

export type Phase = "connect" | "first_token" | "idle";

const VARS: Record<Phase | "total", string> = {
  connect: "AI_CONNECT_TIMEOUT_MS",
  first_token: "AI_FIRST_TOKEN_TIMEOUT_MS",
  idle: "AI_IDLE_TIMEOUT_MS",
  total: "AI_TOTAL_TIMEOUT_MS",
};

const WHAT: Record<Phase | "total", string> = {
  connect: "connect timeout: no response headers",
  first_token: "first-token timeout: no first token",
  idle: "idle timeout: no token",
  total: "total timeout: the request did not finish",
};

/** The `timeout` error for a phase, naming it and its variable. */
export function timeoutError(phase: Phase | "total", ms: number, modelId: string): PipbotError {
  const tail = phase === "idle" ? `for ${ms} ms after the previous one` : `within ${ms} ms`;
  return new PipbotError("timeout", `${WHAT[phase]} from ${modelId} ${tail} (${VARS[phase]})`, {
    retryable: phase !== "total",
    details: { phase, timeoutMs: ms },
  });
}

export class PhaseTimer {
  expired: { phase: Phase; ms: number } | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly onExpire: () => void) {}

  arm(phase: Phase, ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expired = { phase, ms };
      this.onExpire();
    }, ms);
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
