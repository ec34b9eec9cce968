/** Reading and validating request bodies: size limit, JSON, zod issues → one clear 400/413. */
import type { z } from "zod";
import { PipbotError } from "../shared/errors.ts";

/** The body as JSON, refusing bodies over `maxBytes` (413) and invalid JSON (400). */
export async function readJsonBody(req: Request, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > maxBytes)
    throw new PipbotError(
      "payload_too_large",
      `request body is ${declared} bytes, over the ${maxBytes}-byte limit (AI_MAX_BODY_BYTES)`,
    );
  let buf: ArrayBuffer;
  try {
    buf = await req.arrayBuffer();
  } catch (e) {
    throw new PipbotError("invalid_request", "could not read the request body", { cause: e });
  }
  if (buf.byteLength > maxBytes)
    throw new PipbotError(
      "payload_too_large",
      `request body is over the ${maxBytes}-byte limit (AI_MAX_BODY_BYTES)`,
    );
  if (buf.byteLength === 0)
    throw new PipbotError("invalid_request", "request body is empty: send a JSON object");
  try {
    return JSON.parse(new TextDecoder().decode(buf));
  } catch (e) {
    throw new PipbotError("invalid_request", `request body is not valid JSON: ${(e as Error).message}`);
  }
}

/** Validate with zod; failures list every issue with its path (`messages.0.role: …`). */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: i.path.join(".") || "(body)", message: i.message }));
  const message = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  throw new PipbotError("invalid_request", `invalid request: ${message}`, { details: { issues } });
}
