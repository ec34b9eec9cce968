/**
 * A fake of the Convex usage proxy (proxy-v1, shared/specs/convex-contracts.md): checks the
 * headers the AI server must send, rejects wrong ones with the provider's own error shape (401),
 * and forwards everything else to the upstream simulator, passing status, body and SSE through
 * unchanged plus `x-pipbot-request-id`. Records every request (ids included) for assertions.
 * Each user has its own service token (`serviceToken`/`userId`, plus any `users`): a request is
 * accepted only when its `x-pipbot-service-token` and SDK credential are the token of the user it
 * names in `x-pipbot-user-id`.
 */

export type ProxyProvider = "anthropic" | "openai" | "google";

export interface ProxyRequestLog {
  provider: ProxyProvider;
  path: string;
  requestId: string | null;
  conversationId: string | null;
  machineId: string | null;
  userId: string | null;
  /** The `x-pipbot-service-token` it was sent (accepted only when it is `userId`'s own). */
  serviceToken: string | null;
  /** The status the proxy answered (401 when it rejected the headers). */
  status: number;
  rejected?: string;
}

export interface FakeConvexProxy {
  /** The site URL (CONVEX_SITE_URL). */
  url: string;
  requests: ProxyRequestLog[];
  stop(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function providerError(provider: ProxyProvider, status: number, message: string): unknown {
  if (provider === "anthropic")
    return { type: "error", error: { type: "authentication_error", message }, request_id: null };
  if (provider === "openai")
    return { error: { message, type: "invalid_request_error", param: null, code: "invalid_api_key" } };
  return { error: { code: status, message, status: "UNAUTHENTICATED" } };
}

function sdkCredential(provider: ProxyProvider, h: Headers): string | null {
  if (provider === "google") return h.get("x-goog-api-key");
  const bearer = /^Bearer\s+(.+)$/i.exec(h.get("authorization") ?? "")?.[1];
  if (bearer) return bearer;
  return provider === "anthropic" ? h.get("x-api-key") : null;
}

export async function startFakeConvexProxy(opts: {
  upstream: string;
  serviceToken: string;
  userId: string;
  /** More provisioned users: user id → that user's service token. */
  users?: Record<string, string>;
}): Promise<FakeConvexProxy> {
  const requests: ProxyRequestLog[] = [];
  const tokens = new Map<string, string>([
    [opts.userId, opts.serviceToken],
    ...Object.entries(opts.users ?? {}),
  ]);
  const known = new Set(tokens.values());
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(req, srv) {
      const url = new URL(req.url);
      const m = /^\/llm\/(anthropic|openai|google)(\/.*)$/.exec(url.pathname);
      if (!m) return Response.json({ error: "no such route" }, { status: 404 });
      const provider = m[1] as ProxyProvider;
      const rest = m[2] as string;
      const h = req.headers;
      const log: ProxyRequestLog = {
        provider,
        path: rest + url.search,
        requestId: h.get("x-pipbot-request-id"),
        conversationId: h.get("x-pipbot-conversation-id"),
        machineId: h.get("x-pipbot-machine-id"),
        userId: h.get("x-pipbot-user-id"),
        serviceToken: h.get("x-pipbot-service-token"),
        status: 0,
      };
      requests.push(log);
      let problem: string | undefined;
      const token = h.get("x-pipbot-service-token");
      if (token === null || !known.has(token)) problem = "bad or missing x-pipbot-service-token";
      else if (sdkCredential(provider, h) !== token) problem = "the SDK credential must be the service token";
      else if (tokens.get(h.get("x-pipbot-user-id") ?? "") !== token)
        problem = "bad or missing x-pipbot-user-id (not the user of this service token)";
      else if (!UUID.test(h.get("x-pipbot-request-id") ?? ""))
        problem = "missing or malformed x-pipbot-request-id";
      if (problem) {
        log.status = 401;
        log.rejected = problem;
        return Response.json(providerError(provider, 401, problem), { status: 401 });
      }
      srv.timeout(req, 0);
      const headers = new Headers(h);
      headers.delete("host");
      headers.delete("content-length");
      const res = await fetch(`${opts.upstream}${rest}${url.search}`, {
        method: req.method,
        headers,
        body: req.method === "GET" ? null : await req.arrayBuffer(),
        signal: req.signal,
      });
      log.status = res.status;
      const out = new Headers(res.headers);
      out.set("x-pipbot-request-id", log.requestId ?? "");
      out.delete("content-length");
      out.delete("content-encoding");
      return new Response(res.body, { status: res.status, headers: out });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    stop: () => server.stop(true),
  };
}
