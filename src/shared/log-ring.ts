/**
 * A bounded in-memory copy of a process's own recent log lines (already redacted: the logger
 * writes here the same line it writes to stdout). The gateway's `logs.tail` reads it.
 *
 * Lines are addressed like a file that only grows: each line has the byte offset it starts at,
 * `size` is the number of bytes ever written, and a reader's `cursor` is the offset it has read
 * up to. Only the newest `maxLines` lines / `maxBytes` bytes are kept; a cursor older than that
 * gets `skippedBytes`, a cursor beyond `size` (the process restarted) gets `reset`.
 */
import type { LogDestination } from "./log.ts";

export interface LogTail {
  cursor: number;
  size: number;
  lines: string[];
  truncated: boolean;
  reset: boolean;
  skippedBytes: number;
}

export class LogRing implements LogDestination {
  private lines: { start: number; text: string }[] = [];
  private head = 0;
  private bytes = 0;
  private size = 0;
  private partial = "";
  readonly maxLines: number;
  readonly maxBytes: number;

  constructor(opts: { maxLines?: number; maxBytes?: number } = {}) {
    this.maxLines = opts.maxLines ?? 2000;
    this.maxBytes = opts.maxBytes ?? 1024 * 1024;
  }

  write(chunk: string): void {
    const parts = (this.partial + chunk).split("\n");
    this.partial = parts.pop() ?? "";
    for (const text of parts) this.push(text);
  }

  private push(text: string): void {
    const len = Buffer.byteLength(text) + 1;
    this.lines.push({ start: this.size, text });
    this.size += len;
    this.bytes += len;
    while (this.lines.length - this.head > this.maxLines || this.bytes > this.maxBytes) {
      const old = this.lines[this.head++];
      if (!old) break;
      this.bytes -= Buffer.byteLength(old.text) + 1;
    }
    // Compact the array now and then instead of shifting on every line.
    if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * The lines after `cursor` (or the newest ones without a cursor), at most `limit` lines and
   * `maxBytes` bytes — the newest that fit; `truncated` says some were left out.
   */
  tail(opts: {
    cursor?: number | undefined;
    limit: number;
    maxBytes: number;
    /** How each line is shown (counted against maxBytes as shown). */
    render?: (line: string) => string;
  }): LogTail {
    const kept = this.lines.slice(this.head);
    const oldest = kept[0]?.start ?? this.size;
    let reset = false;
    let skippedBytes = 0;
    let from = kept;
    const cursor = opts.cursor;
    if (cursor !== undefined) {
      if (cursor > this.size) reset = true;
      else {
        if (cursor < oldest) skippedBytes = oldest - cursor;
        from = kept.filter((l) => l.start >= cursor);
      }
    }
    const out: string[] = [];
    let bytes = 0;
    for (let i = from.length - 1; i >= 0 && out.length < opts.limit; i--) {
      const stored = (from[i] as { text: string }).text;
      const text = opts.render ? opts.render(stored) : stored;
      const len = Buffer.byteLength(text) + 1;
      if (bytes + len > opts.maxBytes) break;
      bytes += len;
      out.push(text);
    }
    out.reverse();
    return {
      cursor: this.size,
      size: this.size,
      lines: out,
      truncated: out.length < from.length,
      reset,
      skippedBytes,
    };
  }
}
