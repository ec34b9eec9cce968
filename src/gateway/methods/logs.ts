/**
 * `logs.tail`: this gateway's own recent log lines — the same JSON lines it writes to stdout,
 * secrets already redacted by the logger — from the bounded in-memory ring (src/shared/log-ring.ts,
 * newest 2000 lines / 1 MiB). The AI server's and sync worker's lines are not included: each
 * process logs to its own stdout (collected by the supervisor / `fly logs`). `file` names the
 * source; the cursor is a byte offset into the ring's ever-growing stream, so the UI's follow mode
 * gets only new lines, and after a restart (`cursor` beyond `size`) it gets `reset`.
 */
import { z } from "zod";
import { type MethodHandler, parseParams } from "./types.ts";

export const LOG_SOURCE = "pipbot gateway (memory)";

const params = z.looseObject({
  cursor: z.number().int().min(0).optional(),
  limit: z.number().int().min(1).max(5000).optional(),
  maxBytes: z.number().int().min(1).max(1_000_000).optional(),
});

export const logsTail: MethodHandler = (ctx, raw) => {
  const p = parseParams("logs.tail", params, raw);
  const ring = ctx.panels.logRing;
  const limit = p.limit ?? 500;
  const maxBytes = p.maxBytes ?? 250_000;
  if (!ring) return { file: LOG_SOURCE, cursor: 0, size: 0, lines: [], truncated: false };
  const t = ring.tail({ cursor: p.cursor, limit, maxBytes });
  return {
    file: LOG_SOURCE,
    cursor: t.cursor,
    size: t.size,
    lines: t.lines,
    truncated: t.truncated,
    ...(t.reset ? { reset: true } : {}),
    ...(t.skippedBytes > 0 ? { skippedBytes: t.skippedBytes } : {}),
  };
};
