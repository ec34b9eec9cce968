/**
 * `chat.send` attachments (protocol.schema.json ChatSendParams.attachments: `{type?, mimeType,
 * fileName?, content: base64}`; the Control UI sends exactly that): images (png, jpeg, gif, webp)
 * and PDF documents, checked against limits with errors that name the limit, the declared type
 * checked against the bytes, and turned into what the store keeps (reference + bytes) and what the
 * AI server gets (image / document content parts).
 */
import { createHash } from "node:crypto";
import type { ContentPart } from "../shared/chat-api.ts";
import type { AttachmentRef, NewAttachment } from "../shared/store/index.ts";
import { invalidRequest } from "./protocol.ts";

export const MAX_ATTACHMENTS = 4;
export const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
export const MAX_DOCUMENT_BYTES = 10 * 1024 * 1024;
/** All attachments of one message together (base64 of this fits the 25 MiB frame limit). */
export const MAX_TOTAL_BYTES = 15 * 1024 * 1024;

const KINDS: Record<string, "image" | "document"> = {
  "image/png": "image",
  "image/jpeg": "image",
  "image/gif": "image",
  "image/webp": "image",
  "application/pdf": "document",
};
export const ACCEPTED_TYPES = Object.keys(KINDS);

const mib = (n: number) => `${n / (1024 * 1024)} MiB`;

/** The type the bytes really are (magic numbers), or undefined. */
export function sniffType(b: Uint8Array): string | undefined {
  const at = (i: number, ...bytes: number[]) => bytes.every((x, j) => b[i + j] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "image/png";
  if (at(0, 0xff, 0xd8, 0xff)) return "image/jpeg";
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return "image/gif";
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return "image/webp";
  if (at(0, 0x25, 0x50, 0x44, 0x46, 0x2d)) return "application/pdf";
  return undefined;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Validate `attachments` of chat.send; throws INVALID_REQUEST naming the attachment and the rule. */
export function parseAttachments(raw: unknown[]): NewAttachment[] {
  if (raw.length > MAX_ATTACHMENTS) {
    throw invalidRequest(`too many attachments: ${raw.length} (limit ${MAX_ATTACHMENTS} per message)`, {
      code: "ATTACHMENT_LIMIT",
      limit: MAX_ATTACHMENTS,
    });
  }
  let total = 0;
  return raw.map((a, i) => {
    if (typeof a !== "object" || a === null || Array.isArray(a)) {
      throw invalidRequest(`attachments[${i}] must be an object {mimeType, fileName?, content: base64}`);
    }
    const att = a as Record<string, unknown>;
    const fileName =
      typeof att.fileName === "string" && att.fileName.trim() ? att.fileName.slice(0, 255) : undefined;
    const label = `attachments[${i}]${fileName ? ` (${fileName})` : ""}`;
    const declared = typeof att.mimeType === "string" ? att.mimeType.trim().toLowerCase() : "";
    if (!KINDS[declared]) {
      throw invalidRequest(
        `${label}: unsupported type "${declared.slice(0, 80) || "(none)"}": send ${ACCEPTED_TYPES.join(", ")}`,
        { code: "ATTACHMENT_TYPE", accepted: ACCEPTED_TYPES },
      );
    }
    if (typeof att.content !== "string") throw invalidRequest(`${label}: content must be a base64 string`);
    let b64 = att.content.trim();
    const comma = b64.indexOf(",");
    if (b64.startsWith("data:") && comma > 0) b64 = b64.slice(comma + 1);
    b64 = b64.replace(/\s+/g, "");
    if (b64 === "") throw invalidRequest(`${label}: content is empty`);
    if (b64.length % 4 !== 0 || !BASE64.test(b64))
      throw invalidRequest(`${label}: content is not valid base64`);
    const kind = KINDS[declared] as "image" | "document";
    const limit = kind === "image" ? MAX_IMAGE_BYTES : MAX_DOCUMENT_BYTES;
    const approx = Math.floor((b64.length * 3) / 4);
    if (approx > limit + 2) {
      throw invalidRequest(
        `${label}: ${approx} bytes is over the ${mib(limit)} limit for ${kind === "image" ? "images" : "PDF documents"}`,
        {
          code: "ATTACHMENT_TOO_LARGE",
          limit,
        },
      );
    }
    const data = new Uint8Array(Buffer.from(b64, "base64"));
    if (data.length > limit) {
      throw invalidRequest(`${label}: ${data.length} bytes is over the ${mib(limit)} limit`, {
        code: "ATTACHMENT_TOO_LARGE",
        limit,
      });
    }
    total += data.length;
    if (total > MAX_TOTAL_BYTES) {
      throw invalidRequest(
        `attachments: ${total}+ bytes together is over the ${mib(MAX_TOTAL_BYTES)} limit per message`,
        {
          code: "ATTACHMENT_TOO_LARGE",
          limit: MAX_TOTAL_BYTES,
        },
      );
    }
    const actual = sniffType(data);
    if (actual !== declared) {
      throw invalidRequest(
        `${label}: declared ${declared} but the content is ${actual ?? "not a recognised image or PDF"}`,
        { code: "ATTACHMENT_TYPE" },
      );
    }
    const ref: AttachmentRef = {
      type: kind,
      attachmentId: crypto.randomUUID(),
      mimeType: declared,
      ...(fileName ? { fileName } : {}),
      size: data.length,
      sha256: createHash("sha256").update(data).digest("hex"),
    };
    return { ref, data };
  });
}

/** An attachment as an AI server /chat content part (bytes inline as base64). */
export function attachmentPart(ref: AttachmentRef, data: Uint8Array): ContentPart {
  const b64 = Buffer.from(data).toString("base64");
  if (ref.type === "image") return { type: "image", mimeType: ref.mimeType as "image/png", data: b64 };
  return {
    type: "document",
    mimeType: "application/pdf",
    data: b64,
    ...(ref.fileName ? { fileName: ref.fileName } : {}),
  };
}

/** Context messages for the AI server: a message with attachments becomes content parts. */
export function withAttachments(
  messages: { role: "user" | "assistant"; content: string; attachments?: AttachmentRef[] }[],
  store: { attachmentData(id: string): Uint8Array | null },
): { role: "user" | "assistant"; content: string | ContentPart[] }[] {
  return messages.map((m) => {
    if (!m.attachments || m.attachments.length === 0) return { role: m.role, content: m.content };
    const parts: ContentPart[] = [];
    for (const ref of m.attachments) {
      const data = store.attachmentData(ref.attachmentId);
      // A missing file is a failed turn, never a silent drop.
      if (!data)
        throw new Error(`attachment ${ref.attachmentId} of this conversation is missing from the store`);
      parts.push(attachmentPart(ref, data));
    }
    if (m.content !== "") parts.push({ type: "text", text: m.content });
    return { role: m.role, content: parts };
  });
}
