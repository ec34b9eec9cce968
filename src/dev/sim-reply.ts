/**
 * The simulator's answer to a planned request: the JSON reply (after ttft + parts/rate + gap, or a
 * late error_after / a cut_after half body) and the SSE stream part by part (ttft, rate, gap,
 * error_after as an in-stream error event, cut_after as a connection reset held by the cut gate).
 * Each outcome is written to the request's log.
 */
import { abortableSleep } from "../shared/backoff.ts";
import type { CutGate } from "./sim-cut-gate.ts";
import type { SimOptions } from "./sim-options.ts";
import type { SimPlan, SimProvider, SimWire } from "./sim-wire.ts";
import type { SimOutcome, SimRequestLog } from "./upstream-sim.ts";

const enc = new TextEncoder();

export interface SimReply {
  provider: SimProvider;
  wire: SimWire;
  plan: SimPlan;
  opts: SimOptions;
  log: SimRequestLog;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** The provider's request-id header. */
  rid: Record<string, string>;
  /** The provider's error reply (logged as `error`). */
  fail(status: number, message: string): Response;
  cuts: CutGate;
  /** The client cancelled the stream. */
  onCancel(): void;
}

/** The non-stream reply. */
export async function jsonReply(r: SimReply): Promise<Response> {
  const { opts, plan, log, rid } = r;
  const waitMs =
    opts.ttftMs +
    (opts.rate > 0 ? ((plan.parts.length - 1) * 1000) / opts.rate : 0) +
    (opts.fault.kind === "gap" ? opts.fault.ms : 0);
  if (!(await abortableSleep(waitMs, r.signal))) return new Response(null, { status: 499 });
  if (opts.fault.kind === "error_after") return r.fail(r.provider === "anthropic" ? 529 : 503, "Overloaded");
  const text = JSON.stringify(r.wire.json(plan));
  if (opts.fault.kind === "cut_after") {
    const half = enc.encode(text.slice(0, Math.floor(text.length / 2)));
    log.outcome = "cut";
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(half);
        // error(undefined) resets the connection without Bun reporting an unhandled error.
        setTimeout(() => c.error(undefined), 5);
      },
    });
    return new Response(body, { headers: { "content-type": "application/json", ...rid } });
  }
  log.outcome = "completed";
  log.endedAt = Date.now();
  return new Response(text, { headers: { "content-type": "application/json", ...rid } });
}

/** The SSE reply. */
export function streamReply(r: SimReply): Response {
  const { wire, plan, opts, log, signal, rid } = r;
  const body = new ReadableStream<Uint8Array>(
    {
      async start(c) {
        const send = (s: string) => {
          if (s) c.enqueue(enc.encode(s));
        };
        const end = (outcome: SimOutcome) => {
          if (log.outcome === "pending") log.outcome = outcome;
          log.endedAt ??= Date.now();
        };
        send(wire.pre(plan));
        if (!(await abortableSleep(opts.ttftMs, signal))) return;
        const f = opts.fault;
        for (let i = 0; i <= plan.parts.length; i++) {
          if (f.kind === "error_after" && i === Math.min(f.n, plan.parts.length)) {
            send(wire.errorFrame(plan));
            end("error_event");
            c.close();
            return;
          }
          if (f.kind === "cut_after" && i === Math.min(f.n, plan.parts.length)) {
            // A reset drops whatever the client has not read yet: cut only when released (sim-cut-gate.ts).
            await r.cuts.hold(log.id, signal);
            if (signal.aborted) return;
            end("cut");
            c.error(undefined); // resets the connection (no terminating chunk)
            return;
          }
          if (i === plan.parts.length) break;
          if (i > 0 && opts.rate > 0 && !(await abortableSleep(1000 / opts.rate, signal))) return;
          if (i === 1 && f.kind === "gap" && !(await abortableSleep(f.ms, signal))) return;
          if (signal.aborted) return;
          send(wire.part(plan, i));
          log.chunksSent = i + 1;
        }
        send(wire.post(plan));
        end("completed");
        c.close();
      },
      cancel() {
        r.onCancel();
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache", ...rid },
  });
}
