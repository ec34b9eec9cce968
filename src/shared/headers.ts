/**
 * Our own HTTP headers, named once. proxy-v1 (AI server → Convex usage proxy) and the separate
 * deployment (gateway → shared AI server) carry the VM's identity; sync-v1 signs each push.
 */
export const PIPBOT_HEADERS = {
  /** One id per logical /chat request, the same on every retry and fallback; echoed to the caller. */
  requestId: "x-pipbot-request-id",
  conversationId: "x-pipbot-conversation-id",
  /** The VM's CLERK_USER_ID. */
  userId: "x-pipbot-user-id",
  /** The VM's PIPBOT_SERVICE_TOKEN: a credential, never logged. */
  serviceToken: "x-pipbot-service-token",
  /** FLY_MACHINE_ID. */
  machineId: "x-pipbot-machine-id",
  /** sync-v1: `v1=<hex HMAC-SHA256>`; a credential, never logged. */
  signature: "x-pipbot-signature",
  /** AI server request: `true` drops parameters the provider cannot honour instead of a 400. */
  dropParams: "x-pipbot-drop-params",
  /** AI server response: the parameters that were dropped (comma-separated). */
  droppedParams: "x-pipbot-dropped-params",
  /** sync-v1: unix seconds of the signature. */
  timestamp: "x-pipbot-timestamp",
  /** On /healthz: the PIPBOT_INSTANCE_ID the supervisor gave this child (see instance.ts). */
  instance: "x-pipbot-instance",
} as const;
