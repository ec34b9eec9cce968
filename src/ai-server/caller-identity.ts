/**
 * The caller's own proxy-v1 identity (separate deployment: one shared AI server, many VMs): the
 * `x-pipbot-user-id` / `x-pipbot-service-token` pair, validated, trusted only behind AI_SERVER_TOKEN;
 * and the error that names the caller's values when the proxy rejects that identity.
 */
import { PipbotError } from "../shared/errors.ts";
import { PIPBOT_HEADERS } from "../shared/headers.ts";
import type { CallerIdentity } from "./chat.ts";

/** Longest Clerk user id and service token we accept. */
const IDENTITY_MAX_CHARS = { userId: 256, serviceToken: 1024 } as const;
/** Visible ASCII, no spaces or controls (what a Clerk user id and a service token are made of). */
export const validIdentity = (k: keyof typeof IDENTITY_MAX_CHARS, value: string) =>
  value.length <= IDENTITY_MAX_CHARS[k] && /^[\x21-\x7e]+$/.test(value);
export const identityRule = (k: keyof typeof IDENTITY_MAX_CHARS) =>
  `1–${IDENTITY_MAX_CHARS[k]} visible ASCII characters without spaces`;

/**
 * The caller's own identity, when it sends one: both `x-pipbot-user-id` and
 * `x-pipbot-service-token` (one without the other → 400). Trusted only from a caller that
 * authenticated with AI_SERVER_TOKEN (the middleware checked the bearer before this runs): a server
 * without a token — loopback only, the integrated deployment, where the server's own identity is
 * the VM's — ignores the headers, so no local process can bill another identity through it.
 */
export function callerIdentity(req: Request, token: string | undefined): CallerIdentity | undefined {
  if (!token) return undefined;
  const userId = req.headers.get(PIPBOT_HEADERS.userId);
  const serviceToken = req.headers.get(PIPBOT_HEADERS.serviceToken);
  if (userId === null && serviceToken === null) return undefined;
  const missing =
    userId === null ? PIPBOT_HEADERS.userId : serviceToken === null ? PIPBOT_HEADERS.serviceToken : null;
  if (missing)
    throw new PipbotError(
      "invalid_request",
      `${missing} is missing: send both ${PIPBOT_HEADERS.userId} and ${PIPBOT_HEADERS.serviceToken} (the calling VM's CLERK_USER_ID and PIPBOT_SERVICE_TOKEN), or neither`,
      { details: { path: missing } },
    );
  const id = { userId: userId as string, serviceToken: serviceToken as string };
  for (const k of ["userId", "serviceToken"] as const)
    if (!validIdentity(k, id[k]))
      throw new PipbotError("invalid_request", `${PIPBOT_HEADERS[k]} must be ${identityRule(k)}`, {
        details: { path: PIPBOT_HEADERS[k] },
      });
  return id;
}

/** A 401/403 from the proxy on a forwarded identity: point at the caller's values, not ours. */
export function callerCredentialError(e: PipbotError): PipbotError {
  const st = e.details?.upstreamStatus;
  if (st !== 401 && st !== 403) return e;
  const message = `${e.message.replace(/ — check .*$/, "")} — the proxy rejected the caller's identity: check the calling VM's PIPBOT_SERVICE_TOKEN and CLERK_USER_ID (sent as x-pipbot-service-token / x-pipbot-user-id)`;
  return new PipbotError(e.code, message, {
    retryable: e.retryable,
    status: e.status,
    ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
    ...(e.details ? { details: e.details } : {}),
    cause: e,
  });
}
