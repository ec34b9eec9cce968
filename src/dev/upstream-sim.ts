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
 * latency, status and fail_times apply to it as to a generation). `fail_times` counts per key AND
 * per endpoint kind: count_tokens requests and generations (stream or not) of the same key have
 * separate counters, so each fails its own first n requests, in whatever order a test sends them.
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
import { createCutGate } from "./sim-cut-gate.ts";
import { googleWire } from "./sim-google.ts";
import { openaiWire } from "./sim-openai.ts";
import {
  parseSimOptions,
  SimOptionError,
  type SimOptions,
  splitSimModel,
  UNKNOWN_SIM_MODEL,
} from "./sim-options.ts";
import { buildPlan } from "./sim-plan.ts";
import { authOk, simulatedFailure, unknownModel } from "./sim-refusals.ts";
import { jsonReply, type SimReply, streamReply } from "./sim-reply.ts";
import { BadRequest, isObj, type SimRequest } from "./sim-request.ts";
import { parseGoogle } from "./sim-request-google.ts";
import { parseOpenAI } from "./sim-request-openai.ts";
import { getRoute, jsonResponse } from "./sim-static.ts";
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
let seq = 0;

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
  const cuts = createCutGate(cutHoldMs);

  async function handle(req: Request, server: Server<undefined>): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    const fixed = req.method === "GET" ? getRoute(path) : undefined;
    if (fixed) return fixed;

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
    const fail = (
      status: number,
      message: string,
      extra: Record<string, string> = {},
      retryAfterMs?: number,
    ) => {
      const e = wire.error(status, message, retryAfterMs);
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
      if (UNKNOWN_SIM_MODEL.test(bare)) throw new BadRequest(404, unknownModel(provider, bare));
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
      // Per endpoint kind: a count and a generation of the same key each fail their own first n.
      const key = `${count ? "count_tokens" : "generate"}|${opts.key ?? `${provider}:${parsed.model}:${opts.raw}`}`;
      const n = (failCounts.get(key) ?? 0) + 1;
      failCounts.set(key, n);
      if (n <= opts.failTimes) failStatus = opts.status ?? (provider === "anthropic" ? 529 : 503);
    } else if (opts.status !== undefined && opts.status >= 400) failStatus = opts.status;
    if (failStatus !== undefined) {
      const f = simulatedFailure(provider, failStatus, opts);
      return fail(failStatus, f.message, f.headers, f.retryAfterMs);
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

    const reply: SimReply = {
      provider,
      wire,
      plan,
      opts,
      log,
      signal: abort.signal,
      rid,
      fail,
      cuts,
      onCancel: onReqAbort,
    };
    return parsed.stream ? streamReply(reply) : await jsonReply(reply);
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
      cuts.close();
    },
    releaseCuts() {
      cuts.open();
    },
    async stop() {
      cuts.open();
      await server.stop(true);
    },
  };
}
