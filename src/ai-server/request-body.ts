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

/**
 * A validator for an object schema (`schema` = `z.object(shape)`, loose or strict: `strict` then
 * sends a body with a key outside `shape` to the whole schema) that checks only the fields the
 * body has, each with its own zod schema, plus the required fields' presence. A body that fails
 * any check is validated again by the whole schema, so every error (message, paths, all issues)
 * is exactly `validate(schema, …)`'s. Parsing the whole 30-field OpenAI
 * request object walked every field's wrappers on each request: ≈ 50 µs of server CPU per request
 * while the JIT warms up (bench/RESULTS.md). The body is returned as read: unknown keys stay (a
 * loose object), and nested objects keep any extra keys zod would strip, which the readers
 * (chat-request.ts, openai-request.ts, anthropic-request.ts) never look at.
 */
export function fieldValidator<S extends z.ZodType>(
  schema: S,
  shape: Record<string, z.ZodType>,
  opts: { strict?: boolean } = {},
): (value: unknown) => z.output<S> {
  const required = Object.keys(shape).filter((k) => !shape[k]?.safeParse(undefined).success);
  return (value) => {
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      const body = value as Record<string, unknown>;
      let ok = true;
      for (const k of required) if (body[k] === undefined) ok = false;
      if (ok)
        for (const k in body) {
          const field = shape[k];
          if (field ? !field.safeParse(body[k]).success : opts.strict) {
            ok = false;
            break;
          }
        }
      if (ok) return body as z.output<S>;
    }
    return validate(schema, value);
  };
}
