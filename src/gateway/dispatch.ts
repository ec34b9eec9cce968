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
  callMethod(ctx, method, params, conn).then(
    (payload) => void conn.sendResponse(okResponse(id, payload)),
    (e: unknown) => {
      const err =
        e instanceof PipbotError ? e : new PipbotError("unavailable", "internal error", { retryable: true });
      if (!(e instanceof PipbotError)) logger.error({ err: e, method }, "gateway method failed");
      else if (err.message.startsWith("unknown method")) {
        // What real clients call that we do not answer: visible in the logs, one line per call.
        logger.info(
          { connId: conn.connId, client: conn.clientId, method: method.slice(0, 100) },
          "unknown method",
        );
      }
      conn.sendResponse(errorFrame(id, err));
    },
  );
}
