/**
 * sync-v1 request signing: `x-pipbot-signature: v1=<hex HMAC-SHA256(SYNC_SECRET, timestamp + "." + rawBody)>`
 * with `x-pipbot-timestamp` in unix seconds. The signature is a credential: never log it.
 */
import { createHmac } from "node:crypto";

export const SIGNATURE_HEADER = "x-pipbot-signature";
export const TIMESTAMP_HEADER = "x-pipbot-timestamp";
export const USER_ID_HEADER = "x-pipbot-user-id";

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
    [USER_ID_HEADER]: opts.userId,
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: `v1=${signatureHex(opts.secret, timestamp, opts.rawBody)}`,
  };
}
