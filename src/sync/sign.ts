/**
 * sync-v1 request signing: `x-pipbot-signature: v1=<hex HMAC-SHA256(SYNC_SECRET, timestamp + "." + rawBody)>`
 * with `x-pipbot-timestamp` in unix seconds. The signature is a credential: never log it.
 */

import { createHmac } from "node:crypto";
import { PIPBOT_HEADERS } from "../shared/headers.ts";

/** Lowercase hex HMAC-SHA256 of `${timestamp}.${rawBody}`. */
export function signatureHex(secret: string, timestamp: number | string, rawBody: string): string {
  return createHmac("sha256", secret).update(`${timestamp}.${rawBody}`).digest("hex");
}

/** The headers of one signed push (content-type, user id, timestamp, signature). */
export function signedHeaders(opts: {
  secret: string;
  userId: string;
  rawBody: string;
  nowMs: number;
}): Record<string, string> {
  const timestamp = Math.floor(opts.nowMs / 1000);
  return {
    "content-type": "application/json",
    [PIPBOT_HEADERS.userId]: opts.userId,
    [PIPBOT_HEADERS.timestamp]: String(timestamp),
    [PIPBOT_HEADERS.signature]: `v1=${signatureHex(opts.secret, timestamp, opts.rawBody)}`,
  };
}
