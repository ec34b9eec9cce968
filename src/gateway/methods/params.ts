/** Params parsing for method handlers: zod schema → typed params or a clear INVALID_REQUEST. */
import type { z } from "zod";
import { describeZodError, invalidRequest } from "../protocol.ts";

export function parseParams<T extends z.ZodType>(method: string, schema: T, params: unknown): z.infer<T> {
  const r = schema.safeParse(params ?? {});
  if (!r.success) throw invalidRequest(`invalid ${method} params: ${describeZodError(r.error)}`);
  return r.data;
}
