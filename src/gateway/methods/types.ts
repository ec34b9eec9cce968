/**
 * What the panel and "everything else" method handlers (this folder) share: the handler type, the
 * deps of the owner panels, params parsing, and the two structured refusals — a feature this
 * gateway does not offer, and configuration that the platform manages.
 */
import type { z } from "zod";
import { PipbotError } from "../../shared/errors.ts";
import type { Identity } from "../../shared/identity.ts";
import type { LogRing } from "../../shared/log-ring.ts";
import type { Redactor } from "../../shared/redact.ts";
import type { MethodContext } from "../methods.ts";
import { describeZodError, invalidRequest } from "../protocol.ts";

export type MethodHandler = (ctx: MethodContext, params: unknown) => unknown | Promise<unknown>;

/** What the owner panels read besides the chat context. */
export interface PanelDeps {
  /** The effective configuration of the gateway process (redacted before it is shown). */
  settings: object;
  redactor: Redactor;
  /** The gateway's own recent log lines (absent: `logs.tail` answers an empty log). */
  logRing: LogRing | undefined;
  identity: Identity;
  /** Where the store lives (disk figures of `system.info`). */
  dataDir: string | undefined;
}

export function parseParams<T extends z.ZodType>(method: string, schema: T, params: unknown): z.infer<T> {
  const r = schema.safeParse(params ?? {});
  if (!r.success) throw invalidRequest(`invalid ${method} params: ${describeZodError(r.error)}`);
  return r.data;
}

/** `details.code` of a method this gateway knows but does not offer. */
export const NOT_OFFERED = "NOT_OFFERED";

/** The one refusal for a feature this gateway does not have (wire: UNAVAILABLE, not retryable). */
export function notOffered(method: string): PipbotError {
  return new PipbotError("unavailable", `${method} is not offered by this gateway (pipbot)`, {
    details: { code: NOT_OFFERED, method },
  });
}

/** `details.code` of a refused configuration write. */
export const CONFIG_MANAGED = "CONFIG_MANAGED_BY_PLATFORM";

export function configManaged(method: string): PipbotError {
  return new PipbotError(
    "invalid_request",
    `${method}: this gateway's configuration is managed by the platform (environment of the VM) and is read-only here; change it where the VM is deployed`,
    { details: { code: CONFIG_MANAGED, method } },
  );
}
