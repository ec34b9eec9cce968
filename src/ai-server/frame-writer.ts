/**
 * The writer of one SSE response (sse.ts): frames into the response sink, flushing, keep-alive
 * comments, the engine's hooks and the stream's end.
 */
import type { ChatHooks, ChatOutcome } from "./chat.ts";
import type { ModelRef } from "./models.ts";
import type { UsagePatch } from "./providers/index.ts";
import type { SseFraming, SseRun } from "./sse.ts";

/**
 * Frames into a Bun "direct" stream: written straight into the response sink (no JS queue, no
 * per-chunk encode); before the sink is attached they wait in a string. A frame written `now` is
 * flushed at once (the first comment, the first token, keep-alives); others are flushed together
 * at the end of the current turn, so a burst of upstream chunks read at once is one socket write.
 */
export class FrameWriter {
  private sink: ReadableStreamDirectController | undefined;
  private pending = "";
  private flushQueued = false;
  private lastWrite = Date.now();
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  closed = false;
  /** Set once the start frame was written (the first token, or the outcome without any). */
  started = false;
  private firstDelta = true;

  private readonly flush = () => {
    this.flushQueued = false;
    if (this.closed || !this.sink) return;
    try {
      this.sink.flush();
    } catch {
      this.closed = true;
    }
  };

  write(s: string, now = false): void {
    if (this.closed || s.length === 0) return;
    if (!this.sink) {
      this.pending += s;
      return;
    }
    try {
      this.sink.write(s);
      this.lastWrite = Date.now();
    } catch {
      this.closed = true;
      return;
    }
    if (now) this.flush();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(this.flush);
    }
  }

  /** The first content frame is flushed at once. */
  first(s: string): void {
    this.write(s, this.firstDelta);
    this.firstDelta = false;
  }

  /**
   * Start writing into the response: what waited first (or, when nothing did, `opening`: a
   * comment that puts the headers on the wire at once), then keep-alives while the upstream is
   * silent.
   */
  attach(c: ReadableStreamDirectController, keepAliveMs: number, opening = ""): void {
    this.sink = c;
    const waiting = this.pending || opening;
    this.pending = "";
    this.write(waiting, true);
    this.keepAlive = setInterval(() => {
      if (Date.now() - this.lastWrite >= keepAliveMs / 2) this.write(": keep-alive\n\n", true);
    }, keepAliveMs);
  }

  stop(): void {
    this.closed = true;
    clearInterval(this.keepAlive);
  }

  /** The engine's hooks writing `frames`; `onStart` runs once the start frame is written. */
  hooks(frames: SseFraming, onStart?: () => void): ChatHooks {
    return {
      // With the usage the upstream reported so far (Anthropic's message_start carries it).
      onFirstToken: (ref: ModelRef, usage: UsagePatch) => {
        this.started = true;
        this.write(frames.start(ref, usage));
        onStart?.();
      },
      onDelta: (text) => this.first(frames.delta(text)),
      onRefusal: (text) => this.first(frames.refusal ? frames.refusal(text) : frames.delta(text)),
      onReasoning: (piece) => this.first(frames.reasoning(piece)),
      onToolStart: (index, id, name) => this.first(frames.toolStart(index, id, name)),
      onToolArgs: (index, json) => this.write(frames.toolArgs(index, json)),
      onToolCall: (index, call) => this.write(frames.toolCall(index, call)),
    };
  }

  /**
   * The end of the stream: the outcome's final frame (after a start frame if no token came), then
   * close. runChat never rejects (its outcome says ok / error / aborted); `finally` still stops the
   * keep-alive and closes the stream if a framing function throws.
   */
  async end(
    r: SseRun,
    c: ReadableStreamDirectController,
    outcome: () => Promise<ChatOutcome>,
  ): Promise<ChatOutcome | undefined> {
    let o: ChatOutcome | undefined;
    try {
      o = await outcome();
      if (!this.started) this.write(r.frames.start(o.ref, o.usage));
      this.write(o.status === "ok" ? r.frames.done(o) : r.frames.error(o));
    } finally {
      const wasClosed = this.closed;
      this.stop();
      if (!wasClosed) {
        try {
          r.beforeClose?.();
          c.close();
        } catch {
          /* already closed by the caller */
        }
      }
    }
    return o;
  }
}
