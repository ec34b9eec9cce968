/**
 * `logs.tail`: this gateway's own recent log lines — the same JSON lines it writes to stdout,
 * secrets already redacted by the logger — from the bounded in-memory ring (src/shared/log-ring.ts,
 * newest 2000 lines / 1 MiB). The AI server's and sync worker's lines are not included: each
 * process logs to its own stdout (collected by the supervisor / `fly logs`). `file` names the
 * source; the cursor is a byte offset into the ring's ever-growing stream, so the UI's follow mode
 * gets only new lines, and after a restart (`cursor` beyond `size`) it gets `reset`.
 *
 * Each line is the pino JSON line plus the two keys the Control UI's log viewer reads: `message`
 * (= pino's `msg`) and `subsystem` (= `proc`); a line that is not JSON is passed as it is.
 */
import { z } from "zod";
import { type MethodHandler, parseParams } from "./types.ts";

export const LOG_SOURCE = "pipbot gateway (memory)";

const params = z.looseObject({
  cursor: z.number().int().min(0).optional(),
  limit: z.number().int().min(1).max(5000).optional(),
  maxBytes: z.number().int().min(1).max(1_000_000).optional(),
});

/** The pino line with `message` / `subsystem` added for the Control UI's log viewer. */
export function forViewer(line: string): string {
  if (!line.startsWith("{")) return line;
  try {
    const rec = JSON.parse(line) as Record<string, unknown>;
    if (typeof rec.msg !== "string" || "message" in rec) return line;
    return JSON.stringify({
      ...rec,
      message: rec.msg,
      ...(typeof rec.proc === "string" ? { subsystem: rec.proc } : {}),
    });
  } catch {
    return line;
  }
}

export const logsTail: MethodHandler = (ctx, raw) => {
  const p = parseParams("logs.tail", params, raw);
  const ring = ctx.panels.logRing;
  const limit = p.limit ?? 500;
  const maxBytes = p.maxBytes ?? 250_000;
  if (!ring) return { file: LOG_SOURCE, cursor: 0, size: 0, lines: [], truncated: false };
  const t = ring.tail({ cursor: p.cursor, limit, maxBytes, render: forViewer });
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
