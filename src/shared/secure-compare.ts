/** Constant-time token comparison (no early exit on length or content). */
import { createHash, timingSafeEqual } from "node:crypto";

/**
 * True when `given` equals `expected`. Both are hashed first so the comparison takes the same time
 * whatever their lengths or contents; `timingSafeEqual` then compares the fixed-size digests.
 */
export function secureEqual(given: string | undefined | null, expected: string | undefined | null): boolean {
  if (typeof given !== "string" || typeof expected !== "string" || expected.length === 0) return false;
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m?.[1]?.trim();
}
