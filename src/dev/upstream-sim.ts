/**
 * Upstream simulator: a local server that speaks the Anthropic, OpenAI and Gemini wire formats
 * (stream and non-stream, usage, request ids, error bodies) with per-request fault injection.
 * Used by tests, benchmarks and the offline demo; `pipbot dev upstream-sim --port N` runs it.
 *
 * Options ride in the model name after `@` or in the `x-sim-options` header (which wins):
 * tokens, rate, latency, ttft, status, retry_after, retry_after_ms, should_retry, fail_times, key,
 * fault=error_after:<n>|cut_after:<n>|gap:<ms>|tool_call, cache_read, cache_write, thoughts, tool_calls,
 * reasoning_text. Replies follow the request: tool calls when tools are offered, JSON when JSON is
 * asked for, thinking when reasoning is on, tool results and media echoed (sim-plan.ts).
 * GET /files/<name> serves fixture files; /ollama/v1/… is an OpenAI-compatible route without auth.
 * Anthropic's POST /v1/messages/count_tokens answers `{"input_tokens": N}` (sim-count-tokens.ts;
 * latency, status and fail_times apply to it as to a generation).
 *
 * A streamed `fault=cut_after:<n>` sends n parts, then HOLDS the cut until `sim.releaseCuts()` (a test
 * calls it once its own client has seen the n parts), or until `cutHoldMs` passes (then it cuts
 * anyway and logs that it did). The cut is a connection reset, and a reset makes the client's kernel
 * drop bytes the client has not read yet: no server-side wait can know they were read, so a test
 * that depends on the client having seen the parts must say so. The CLI (`pipbot dev upstream-sim`,
 * used by `pipbot demo`, where nobody releases) uses a short time-based hold instead.
 */
import type { Server } from "bun";
import { abortableSleep } from "../shared/backoff.ts";
import { anthropicWire } from "./sim-anthropic.ts";
import { countTokensBody, parseAnthropicBody } from "./sim-count-tokens.ts";
import { googleWire } from "./sim-google.ts";
import { openaiWire } from "./sim-openai.ts";
import { parseSimOptions, SimOptionError, type SimOptions, splitSimModel } from "./sim-options.ts";
import { buildPlan } from "./sim-plan.ts";
import { BadRequest, isObj, parseGoogle, parseOpenAI, type SimRequest } from "./sim-request.ts";
import type { SimProvider, SimWire } from "./sim-wire.ts";

export type { SimProvider } from "./sim-wire.ts";

export type SimOutcome = "pending" | "completed" | "error" | "error_event" | "cut" | "aborted";

export interface SimRequestLog {
  id: string;
  provider: SimProvider | "unknown";
  method: string;
  path: string;
  /** Lower-cased request headers. */
  headers: Record<string, string>;
  body: unknown;
  /** The model as requested (including any `@options`). */
  model: string;
  options: string;
  stream: boolean;
  status: number;
  startedAt: number;
  endedAt?: number;
  outcome: SimOutcome;
  chunksSent: number;
  /** True when the client went away (abort / connection closed) before the reply finished. */
  aborted: boolean;
}

export interface UpstreamSim {
  url: string;
  port: number;
  stop(): Promise<void>;
  requests: SimRequestLog[];
  /** Forget the request log and the fail_times counters; close the cut gate again. */
  reset(): void;
  /**
   * Open the cut gate: every held `cut_after` stream cuts now, and later ones cut as soon as they
   * reach their cut point, until `reset()`. A test calls it once its own client has seen the parts.
   */
  releaseCuts(): void;
}

/** Default bound on a held cut when nobody calls `releaseCuts()`. */
export const CUT_HOLD_MS = 30_000;

const WIRES: Record<SimProvider, SimWire> = {
  anthropic: anthropicWire,
  openai: openaiWire,
  google: googleWire,
};
const enc = new TextEncoder();
let seq = 0;

function authOk(provider: SimProvider, req: Request, url: URL): string | null {
  const bearer = /^Bearer\s+\S+/i.test(req.headers.get("authorization") ?? "");
  if (provider === "anthropic") {
    if (!bearer && !req.headers.get("x-api-key"))
      return "missing credentials: send x-api-key or Authorization: Bearer";
    return null;
  }
  if (provider === "openai") return bearer ? null : "You didn't provide an API key.";
  return req.headers.get("x-goog-api-key") || url.searchParams.get("key")
    ? null
    : "Method doesn't allow unregistered callers. Please use API Key.";
}

/** The fixture files served under /files/ (for image/PDF URL tests). */
export const SIM_FILES: Record<string, { type: string; body: Uint8Array }> = {
  "pixel.png": {
    type: "image/png",
    body: Uint8Array.from(
      atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="),
      (c) => c.charCodeAt(0),
    ),
  },
  "doc.pdf": {
    type: "application/pdf",
    body: new TextEncoder().encode("%PDF-1.4\n% simulator fixture\n%%EOF\n"),
  },
};

/** Each provider's real answer to an unknown model. */
function unknownModel(provider: SimProvider, model: string): string {
  if (provider === "openai") return `The model \`${model}\` does not exist or you do not have access to it.`;
  if (provider === "google")
    return `models/${model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`;
  return `model: ${model}`;
}

/** Start the simulator (default 127.0.0.1, port 0). */
export async function startUpstreamSim(
  opts: {
    port?: number;
    hostname?: string;
    /** How long a `cut_after` stream waits for `releaseCuts()` before cutting anyway (logged). */
    cutHoldMs?: number;
  } = {},
): Promise<UpstreamSim> {
  const requests: SimRequestLog[] = [];
  const failCounts = new Map<string, number>();
  const cutHoldMs = opts.cutHoldMs ?? CUT_HOLD_MS;
  /** Streams held at their cut point; once the gate is open (releaseCuts) nothing is held. */
  const heldCuts = new Set<() => void>();
  let cutGateOpen = false;

  /** Hold a cut until the gate opens, the request is aborted, or the hold deadline passes. */
  async function holdCut(id: string, signal: AbortSignal): Promise<void> {
    if (cutGateOpen || signal.aborted) return;
    const { promise, resolve } = Promise.withResolvers<"released" | "deadline" | "aborted">();
    const release = () => resolve("released");
    const timer = setTimeout(() => resolve("deadline"), cutHoldMs);
    const onAbort = () => resolve("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    heldCuts.add(release);
    const how = await promise;
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
    heldCuts.delete(release);
    if (how === "deadline")
      process.stderr.write(
        `${JSON.stringify({ level: "info", proc: "upstream-sim", msg: "cut_after: nobody called releaseCuts(); cutting at the hold deadline", requestId: id, cutHoldMs })}\n`,
      );
  }

  function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
    return new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });
  }

  async function handle(req: Request, server: Server<undefined>): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    if (req.method === "GET" && (path === "/healthz" || path === "/"))
      return jsonResponse(200, { ok: true, simulator: true });
    const file = req.method === "GET" && path.startsWith("/files/") ? SIM_FILES[path.slice(7)] : undefined;
    if (file) return new Response(file.body, { headers: { "content-type": file.type } });
    if (req.method === "GET" && path.endsWith("/v1/models"))
      return jsonResponse(200, {
        object: "list",
        data: [{ id: "sim", object: "model", created: 0, owned_by: "pipbot-sim" }],
      });

    let provider: SimProvider | undefined;
    let gModel = "";
    let gStream = false;
    /** Anthropic's POST /v1/messages/count_tokens: `{"input_tokens": N}`, nothing generated. */
    const count = req.method === "POST" && path.endsWith("/v1/messages/count_tokens");
    const g = /\/(v1|v1beta)\/models\/([^/]+):(generateContent|streamGenerateContent)$/.exec(path);
    if (req.method === "POST" && (path.endsWith("/v1/messages") || count)) provider = "anthropic";
    else if (req.method === "POST" && path.endsWith("/chat/completions")) provider = "openai";
    else if (req.method === "POST" && g) {
      provider = "google";
      gModel = decodeURIComponent(g[2] ?? "");
      gStream = g[3] === "streamGenerateContent";
    }
    if (!provider)
      return jsonResponse(404, {
        error: { message: `simulator: no route for ${req.method} ${path}`, type: "not_found" },
      });

    const wire = WIRES[provider];
    const id = `${provider === "anthropic" ? "msg" : provider === "openai" ? "chatcmpl" : "resp"}_sim${++seq}`;
    const log: SimRequestLog = {
      id,
      provider,
      method: req.method,
      path: path + url.search,
      headers: Object.fromEntries([...req.headers].map(([k, v]) => [k.toLowerCase(), v])),
      body: undefined,
      model: gModel,
      options: "",
      stream: gStream,
      status: 0,
      startedAt: Date.now(),
      outcome: "pending",
      chunksSent: 0,
      aborted: false,
    };
    requests.push(log);
    const rid = { [wire.requestIdHeader]: `req_${id}` };
    const fail = (status: number, message: string, extra: Record<string, string> = {}) => {
      const e = wire.error(status, message);
      log.status = status;
      log.outcome = "error";
      log.endedAt = Date.now();
      return jsonResponse(e.status, e.body, { ...rid, ...extra });
    };

    // /ollama/v1/…: an OpenAI-compatible local server that takes no key (like Ollama).
    const auth = path.startsWith("/ollama/") ? null : authOk(provider, req, url);
    if (auth) return fail(provider === "google" ? 403 : 401, auth);
    if (provider === "anthropic" && !req.headers.get("anthropic-version"))
      return fail(400, "anthropic-version: header is required");

    let parsed: SimRequest;
    let opts: SimOptions;
    try {
      let body: unknown;
      try {
        body = await req.json();
      } catch {
        throw new BadRequest(400, "request body is not valid JSON");
      }
      log.body = body;
      if (!isObj(body)) throw new BadRequest(400, "request body must be a JSON object");
      parsed =
        provider === "anthropic"
          ? parseAnthropicBody(body, count)
          : provider === "openai"
            ? parseOpenAI(body)
            : parseGoogle(body, gModel, gStream);
      log.model = parsed.model;
      log.stream = parsed.stream;
      const { model: bare, options } = splitSimModel(parsed.model.replace(/^models\//, ""));
      opts = parseSimOptions(options, req.headers.get("x-sim-options"));
      log.options = opts.raw;
      if (/^(unknown|missing)/.test(bare)) throw new BadRequest(404, unknownModel(provider, bare));
      parsed.model = bare;
    } catch (e) {
      if (e instanceof BadRequest) return fail(e.status, e.message);
      if (e instanceof SimOptionError) return fail(400, e.message);
      throw e;
    }

    const abort = new AbortController();
    const onReqAbort = () => {
      if (log.outcome === "pending") {
        log.aborted = true;
        log.outcome = "aborted";
        log.endedAt = Date.now();
      }
      abort.abort();
    };
    req.signal.addEventListener("abort", onReqAbort, { once: true });

    if (!(await abortableSleep(opts.latencyMs, abort.signal))) return new Response(null, { status: 499 });

    // Pre-stream failure (always, or only the first fail_times requests of a key).
    let failStatus: number | undefined;
    if (opts.failTimes !== undefined) {
      const key = opts.key ?? `${provider}:${parsed.model}:${opts.raw}`;
      const n = (failCounts.get(key) ?? 0) + 1;
      failCounts.set(key, n);
      if (n <= opts.failTimes) failStatus = opts.status ?? (provider === "anthropic" ? 529 : 503);
    } else if (opts.status !== undefined && opts.status >= 400) failStatus = opts.status;
    if (failStatus !== undefined) {
      const h: Record<string, string> = {};
      if (opts.retryAfterS !== undefined) h["retry-after"] = String(opts.retryAfterS);
      if (opts.retryAfterMs !== undefined) h["retry-after-ms"] = String(opts.retryAfterMs);
      if (opts.shouldRetry !== undefined) h["x-should-retry"] = opts.shouldRetry;
      const msg =
        failStatus === 529
          ? "Overloaded"
          : failStatus === 429
            ? "Rate limit reached (simulated)"
            : `simulated upstream error ${failStatus}`;
      return fail(failStatus, msg, h);
    }

    if (count) {
      log.status = 200;
      log.outcome = "completed";
      log.endedAt = Date.now();
      return jsonResponse(200, countTokensBody(parsed), rid);
    }

    const plan = buildPlan(parsed, opts, id);
    server.timeout(req, 0);
    log.status = 200;

    if (!parsed.stream) {
      const waitMs =
        opts.ttftMs +
        (opts.rate > 0 ? ((plan.parts.length - 1) * 1000) / opts.rate : 0) +
        (opts.fault.kind === "gap" ? opts.fault.ms : 0);
      if (!(await abortableSleep(waitMs, abort.signal))) return new Response(null, { status: 499 });
      if (opts.fault.kind === "error_after") return fail(provider === "anthropic" ? 529 : 503, "Overloaded");
      const text = JSON.stringify(wire.json(plan));
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
          if (!(await abortableSleep(opts.ttftMs, abort.signal))) return;
          const f = opts.fault;
          for (let i = 0; i <= plan.parts.length; i++) {
            if (f.kind === "error_after" && i === Math.min(f.n, plan.parts.length)) {
              send(wire.errorFrame(plan));
              end("error_event");
              c.close();
              return;
            }
            if (f.kind === "cut_after" && i === Math.min(f.n, plan.parts.length)) {
              // A reset drops whatever the client has not read yet: cut only when released (see top).
              await holdCut(id, abort.signal);
              if (abort.signal.aborted) return;
              end("cut");
              c.error(undefined); // resets the connection (no terminating chunk)
              return;
            }
            if (i === plan.parts.length) break;
            if (i > 0 && opts.rate > 0 && !(await abortableSleep(1000 / opts.rate, abort.signal))) return;
            if (i === 1 && f.kind === "gap" && !(await abortableSleep(f.ms, abort.signal))) return;
            if (abort.signal.aborted) return;
            send(wire.part(plan, i));
            log.chunksSent = i + 1;
          }
          send(wire.post(plan));
          end("completed");
          c.close();
        },
        cancel() {
          onReqAbort();
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache", ...rid },
    });
  }

  const server = Bun.serve({
    port: opts.port ?? 0,
    hostname: opts.hostname ?? "127.0.0.1",
    idleTimeout: 0,
    fetch: handle,
    error(err) {
      return new Response(
        JSON.stringify({
          error: { message: `simulator internal error: ${err.message}`, type: "server_error" },
        }),
        {
          status: 500,
          headers: { "content-type": "application/json" },
        },
      );
    },
  });
  const port = server.port ?? 0;
  const host =
    opts.hostname && opts.hostname !== "0.0.0.0" && opts.hostname !== "::" ? opts.hostname : "127.0.0.1";
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    requests,
    reset() {
      requests.length = 0;
      failCounts.clear();
      cutGateOpen = false;
    },
    releaseCuts() {
      cutGateOpen = true;
      for (const release of heldCuts) release();
    },
    async stop() {
      cutGateOpen = true;
      for (const release of heldCuts) release();
      await server.stop(true);
    },
  };
}
