/**
 * Method dispatch: one request frame of an open connection → the method table → exactly one
 * response. A malformed frame answers `INVALID_REQUEST`; a method that throws anything but a
 * PipbotError answers a retryable `UNAVAILABLE` and is logged.
 */

import { PipbotError } from "../shared/errors.ts";
import type { PipbotLogger } from "../shared/log.ts";
import type { Connection } from "./connection.ts";
import { callMethod, type MethodContext } from "./methods.ts";
import { errorFrame, invalidRequest, okResponse, parseRequestFrame } from "./protocol.ts";

export function dispatchRequest(
  ctx: MethodContext,
  logger: PipbotLogger,
  conn: Connection,
  text: string,
): void {
  const parsed = parseRequestFrame(text);
  if (!parsed.ok) {
    conn.sendResponse(
      errorFrame(parsed.id ?? "invalid", invalidRequest(`invalid request frame: ${parsed.reason}`)),
    );
    return;
  }
  const { id, method, params } = parsed.frame;
  callMethod(ctx, method, params).then(
    (payload) => void conn.sendResponse(okResponse(id, payload)),
    (e: unknown) => {
      const err =
        e instanceof PipbotError ? e : new PipbotError("unavailable", "internal error", { retryable: true });
      if (!(e instanceof PipbotError)) logger.error({ err: e, method }, "gateway method failed");
      conn.sendResponse(errorFrame(id, err));
    },
  );
}
