/**
 * The gateway's HTTP routes (Hono): `/healthz` (liveness, with facts an operator reads in
 * `pipbot status`: in-memory counters and values fixed at start, never a query or a secret; the
 * activity counts only to a caller on this machine), `/readyz` (store, AI server reachable — with the
 * runs waiting for it —, not stopping), the web chat page at `/`, the Control UI bootstrap config
 * and avatar (control-ui-config.ts). WebSocket upgrades never reach this app (sockets.ts takes them first).
 */
import { Hono } from "hono";
import { PipbotError, toPipbotError } from "../shared/errors.ts";
import type { PipbotLogger } from "../shared/log.ts";
import type { Store } from "../shared/store/index.ts";
import type { AiClient } from "./ai-client.ts";
import { type AiAvailability, aiWaitReport } from "./ai-wait.ts";
import type { ControlUi } from "./control-ui.ts";
import { registerControlUiConfig } from "./control-ui-config.ts";
import { PROTOCOL_MAX, PROTOCOL_MIN } from "./protocol.ts";
import { webChatHeaders, webChatPage } from "./webchat.ts";

export interface HttpRoutesDeps {
  store: Store;
  ai: AiClient;
  aiAvailability: AiAvailability;
  logger: PipbotLogger;
  version: string;
  isStopping: () => boolean;
  now: () => number;
  /** The OpenClaw Control UI at /control/, when configured. */
  controlUi?: ControlUi | undefined;
  /** Open client connections and chat turns running now (in-memory counters). */
  connections: () => number;
  activeRuns: () => number;
}

/**
 * What `fetch` passes per request: whether the peer is on this machine (the socket's address,
 * never a header). Activity — connections, turns running or waiting — is the user's: a public
 * /healthz (Fly's checks, anyone who finds the URL) must not show whether they are chatting.
 */
export interface HttpPeer {
  local: boolean;
}

export function createHttpRoutes(deps: HttpRoutesDeps): Hono<{ Bindings: HttpPeer }> {
  const { store, ai, logger } = deps;
  const http = new Hono<{ Bindings: HttpPeer }>();
  // Read once: the store's schema does not change while the gateway runs, and liveness must not
  // depend on a query. The AI server's reachability is the gateway's last observation (a run or a
  // /readyz probe; ai-wait.ts), not a new probe.
  const schemaVersion = store.schemaVersion;
  http.get("/healthz", (c) => {
    const ai = aiWaitReport(deps.aiAvailability, deps.now());
    const local = c.env?.local === true;
    return c.json({
      ok: true,
      version: deps.version,
      protocol: { min: PROTOCOL_MIN, max: PROTOCOL_MAX },
      ...(local ? { connections: deps.connections(), activeRuns: deps.activeRuns() } : {}),
      controlUi: Boolean(deps.controlUi),
      ai: {
        reachable: ai.reachable,
        downForMs: ai.downForMs,
        ...(local ? { waitingRuns: ai.waitingRuns } : {}),
      },
      store: { schemaVersion },
    });
  });
  http.get("/readyz", async (c) => {
    if (deps.isStopping()) return c.json({ ok: false, reason: "gateway is shutting down" }, 503);
    if (!store.ping()) return c.json({ ok: false, reason: "store unavailable" }, 503);
    // Not ready while the AI server cannot be reached: chats sent meanwhile are accepted and wait
    // for it (bounded, GATEWAY_AI_WAIT_MS); the body says how many wait and since when.
    const h = await ai.health(1000);
    if (h.ok) deps.aiAvailability.markUp();
    else deps.aiAvailability.markDown();
    const wait = aiWaitReport(deps.aiAvailability, deps.now());
    if (!h.ok) {
      const ai = c.env?.local === true ? wait : { reachable: wait.reachable, downForMs: wait.downForMs };
      return c.json({ ok: false, reason: `AI server not ready: ${h.error}`, ai }, 503);
    }
    return c.json({ ok: true });
  });
  // The web chat: no token needed to load it (it holds none); the browser keeps the token of the
  // URL fragment in memory. A new CSP nonce per response.
  http.get("/", () => {
    const nonce = crypto.randomUUID().replaceAll("-", "");
    return new Response(webChatPage(nonce, deps.version), { headers: webChatHeaders(nonce) });
  });
  registerControlUiConfig(http, deps.version);
  // The Control UI's own files and routes come after its config and avatar (control-ui-config.ts).
  const controlUi = deps.controlUi;
  if (controlUi) {
    http.get("/control", (c) => c.redirect("/control/"));
    http.get("/control/*", (c) => controlUi.serve(c.req.path) ?? c.notFound());
  }
  http.notFound((c) => c.json(new PipbotError("not_found", "not found").toHttpBody(), 404));
  http.onError((err, c) => {
    const e = toPipbotError(err);
    logger.error({ err, path: new URL(c.req.url).pathname }, "gateway http error");
    return c.json(e.toHttpBody(), e.status as 500);
  });
  return http;
}
