/**
 * proxy-v1: `/llm/{anthropic,openai,google}/*`. Verifies the VM's service token (per machine,
 * revocable, constant time) and user, checks the budget, writes the `started` usage row, then
 * forwards the request with the operator's key and streams the provider's answer back unchanged
 * while reading its usage; the row is finished when the body ends, is cut, or the client goes away.
 * Retries of one request (same x-pipbot-request-id) share one row. Keys and tokens are never logged.
 */
import { internal } from "./_generated/api";
import { httpAction } from "./_generated/server";
import { verifyServiceToken } from "./credentials";
import { logLine } from "./lib/log";
import {
  allowedPath,
  billablePath,
  type Provider,
  refusal,
  requestModel,
  responseHeaders,
  sdkCredential,
  UPSTREAM_ENV,
  upstreamHeaders,
} from "./lib/providerWire";
import { type Tokens, UsageMeter, zeroTokens } from "./lib/usageMeter";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Finish = { status: "finalized" | "failed" | "cut"; httpStatus?: number; error?: string; model?: string };

export const llm = httpAction(async (ctx, request) => {
  const t0 = Date.now();
  const url = new URL(request.url);
  const m = /^\/llm\/(anthropic|openai|google)(\/.*)$/.exec(url.pathname);
  const provider = (m?.[1] ?? "openai") as Provider;
  const path = m?.[2] ?? "/";
  const h = request.headers;
  const requestId = h.get("x-pipbot-request-id") ?? "";
  const userId = h.get("x-pipbot-user-id") ?? "";
  const line: Record<string, unknown> = { event: "llm_proxy", provider, path, requestId, userId };
  const done = (res: Response, extra: Record<string, unknown> = {}) => {
    logLine({ ...line, status: res.status, durationMs: Date.now() - t0, ...extra });
    return res;
  };
  const refuse = (kind: Parameters<typeof refusal>[1], message: string, retryAfterS?: number) =>
    done(refusal(provider, kind, message, { requestId, ...(retryAfterS ? { retryAfterS } : {}) }), {
      outcome: kind,
    });

  if (!m || !allowedPath(provider, path))
    return refuse("not_found", `the usage proxy does not forward ${url.pathname}`);
  const token = h.get("x-pipbot-service-token");
  if (!token) return refuse("auth", "missing x-pipbot-service-token");
  if (sdkCredential(provider, h) !== token)
    return refuse("auth", "the SDK credential must be the service token");
  if (!userId || !(await verifyServiceToken(ctx, userId, token)))
    return refuse("auth", "unknown, revoked or mismatched service token for x-pipbot-user-id");
  if (!UUID.test(requestId))
    return refuse("bad_request", "missing or malformed x-pipbot-request-id (a UUID)");

  const env = UPSTREAM_ENV[provider];
  const key = env.key.map((k) => process.env[k]).find((k) => k);
  if (!key) return refuse("unconfigured", `the usage proxy has no ${env.key.join(" or ")} set`);
  const base = (process.env[env.baseUrl] || env.defaultBase).replace(/\/+$/, "");

  const body = request.method === "GET" || request.method === "HEAD" ? null : await request.arrayBuffer();
  let parsed: unknown = null;
  try {
    parsed = body ? JSON.parse(new TextDecoder().decode(body)) : null;
  } catch {
    /* the provider judges the body */
  }
  const model = requestModel(provider, path, parsed);
  if (model) line.model = model;
  const machineId = h.get("x-pipbot-machine-id") ?? undefined;
  const conversationId = h.get("x-pipbot-conversation-id") ?? undefined;
  // Generation calls are metered and budgeted; listing models or counting tokens is free.
  const billable = billablePath(provider, path);
  let attempt = 0;
  if (billable) {
    const started = await ctx.runMutation(internal.usage.start, {
      requestId,
      userId,
      provider,
      ...(model ? { model } : {}),
      ...(machineId ? { machineId } : {}),
      ...(conversationId ? { conversationId } : {}),
    });
    if (started.refused) {
      const r = started.refused;
      const message = `over the ${r.period === "day" ? "daily" : "monthly"} budget of $${r.limitUsd} (spent $${r.spentUsd.toFixed(4)})`;
      return refuse(r.period === "day" ? "budget_day" : "budget_month", message, r.retryAfterS);
    }
    if (started.conflict || started.attempt === undefined)
      return refuse("bad_request", "x-pipbot-request-id belongs to another user");
    attempt = started.attempt;
    line.attempt = attempt;
  }

  const finish = async (f: Finish, tokens: Tokens) => {
    if (billable) await ctx.runMutation(internal.usage.finish, { requestId, attempt, ...f, ...tokens });
    logLine({
      ...line,
      ...tokens,
      usageStatus: f.status,
      httpStatus: f.httpStatus,
      durationMs: Date.now() - t0,
    });
  };

  let upstream: Response;
  try {
    upstream = await fetch(`${base}${path}${url.search}`, {
      method: request.method,
      headers: upstreamHeaders(provider, h, key),
      body,
      signal: request.signal,
    });
  } catch (e) {
    if (request.signal.aborted) {
      await finish(
        { status: "cut", error: "the client went away before the provider answered" },
        zeroTokens(),
      );
      return refusal(provider, "unreachable", "the client went away", { requestId });
    }
    await finish({ status: "failed", error: `upstream unreachable: ${(e as Error).name}` }, zeroTokens());
    return refusal(provider, "unreachable", `the usage proxy could not reach ${provider}`, { requestId });
  }
  const headers = responseHeaders(upstream.headers, requestId);
  if (!upstream.ok || !upstream.body) {
    const text = await upstream.text();
    await finish({ status: upstream.ok ? "finalized" : "failed", httpStatus: upstream.status }, zeroTokens());
    return new Response(text, { status: upstream.status, headers });
  }
  if (!billable) {
    // A model list or a token count: passed through unread (there is no usage to meter).
    logLine({ ...line, usageStatus: "not_billed", httpStatus: upstream.status, durationMs: Date.now() - t0 });
    return new Response(upstream.body, { status: upstream.status, headers });
  }
  return new Response(meteredBody(provider, upstream, request.signal, finish), {
    status: upstream.status,
    headers,
  });
});

/** The upstream body, chunk for chunk, with the usage read on the way and the row finished once. */
function meteredBody(
  provider: Provider,
  upstream: Response,
  clientSignal: AbortSignal,
  finish: (f: Finish, t: Tokens) => Promise<void>,
): ReadableStream<Uint8Array> {
  const meter = new UsageMeter(provider, upstream.headers.get("content-type") ?? "");
  const reader = (upstream.body as ReadableStream<Uint8Array>).getReader();
  let closed = false;
  const close = async (f: Omit<Finish, "httpStatus">) => {
    if (closed) return;
    closed = true;
    await finish(
      { ...f, httpStatus: upstream.status, ...(meter.model ? { model: meter.model } : {}) },
      meter.tokens,
    );
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let r: Awaited<ReturnType<typeof reader.read>>;
      try {
        r = await reader.read();
      } catch (e) {
        await close({
          status: "cut",
          error: clientSignal.aborted
            ? "the client went away mid-response"
            : `upstream stream cut: ${(e as Error).name}`,
        });
        controller.error(e);
        return;
      }
      if (r.done) {
        meter.end();
        await close(
          meter.streamError !== undefined
            ? { status: "cut", error: `the provider ended the stream with an error (${meter.streamError})` }
            : meter.sawUsage
              ? { status: "finalized" }
              : { status: "cut", error: "the response ended without usage" },
        );
        controller.close();
        return;
      }
      meter.feed(r.value);
      controller.enqueue(r.value);
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      await close({ status: "cut", error: "the client went away mid-response" });
    },
  });
}
