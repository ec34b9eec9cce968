/**
 * Image and PDF parts: data: URIs parsed, base64 data checked against its declared type (the
 * file's first bytes), so a wrong or corrupt upload is a clear 400 here rather than a provider's
 * opaque one.
 */
import { DOCUMENT_TYPES, IMAGE_TYPES } from "../shared/chat-api.ts";
import { PipbotError } from "../shared/errors.ts";
import type { ProviderMessage } from "./providers/index.ts";

const SIGNATURES: Record<string, (b: Uint8Array) => boolean> = {
  "image/png": (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47,
  "image/jpeg": (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  "image/gif": (b) => b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38,
  "image/webp": (b) =>
    b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45,
  "application/pdf": (b) => b[0] === 0x25 && b[1] === 0x50 && b[2] === 0x44 && b[3] === 0x46,
};

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** `data:<mime>;base64,<data>` → its parts, or a 400 naming what is wrong. */
export function parseDataUri(uri: string, path: string): { mimeType: string; data: string } {
  const m = /^data:([^;,]+)((?:;[^;,]*)*),(.*)$/s.exec(uri);
  if (!m) throw new PipbotError("invalid_request", `${path}: not a data: URI`, { details: { path } });
  if (!(m[2] ?? "").split(";").includes("base64"))
    throw new PipbotError("invalid_request", `${path}: data: URIs must be base64 (";base64,")`, {
      details: { path },
    });
  return { mimeType: (m[1] ?? "").toLowerCase(), data: m[3] ?? "" };
}

export function checkImageType(mimeType: string, path: string): (typeof IMAGE_TYPES)[number] {
  if ((IMAGE_TYPES as readonly string[]).includes(mimeType)) return mimeType as (typeof IMAGE_TYPES)[number];
  throw new PipbotError(
    "invalid_request",
    `${path}: image type "${mimeType}" is not supported: send ${IMAGE_TYPES.join(", ")}`,
    { details: { path } },
  );
}

export function checkDocumentType(mimeType: string, path: string): (typeof DOCUMENT_TYPES)[number] {
  if ((DOCUMENT_TYPES as readonly string[]).includes(mimeType))
    return mimeType as (typeof DOCUMENT_TYPES)[number];
  throw new PipbotError(
    "invalid_request",
    `${path}: file type "${mimeType}" is not supported: send application/pdf`,
    {
      details: { path },
    },
  );
}

/** Every inline image/document is base64 whose first bytes match its declared type. */
export function checkMedia(messages: ProviderMessage[]): void {
  messages.forEach((m, i) => {
    m.content.forEach((p, j) => {
      const parts = p.type === "tool_result" && typeof p.content !== "string" ? p.content : [p];
      for (const q of parts) {
        if ((q.type !== "image" && q.type !== "document") || q.data === undefined) continue;
        const path = `messages.${i}.content.${j}`;
        const head = q.data.slice(0, 64);
        if (!BASE64.test(head.replace(/=+$/, "")) || q.data.length % 4 === 1)
          throw new PipbotError("invalid_request", `${path}: data is not base64`, { details: { path } });
        const bytes = Buffer.from(head, "base64");
        const mime = q.mimeType ?? "";
        if (!SIGNATURES[mime]?.(bytes))
          throw new PipbotError(
            "invalid_request",
            `${path}: data is not a ${mime} file (its first bytes say otherwise)`,
            {
              details: { path },
            },
          );
      }
    });
  });
}
