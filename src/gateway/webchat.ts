/**
 * The small web chat served at `GET /`: one self-contained HTML page (inline CSS and JS, no build
 * step, no external resources) that speaks protocol 4 over a WebSocket to the same address. It
 * reads the token from the URL fragment (`/#token=…`, which browsers never send to a server),
 * removes it from the address bar at once, keeps it only in memory (no storage, no cookie), and
 * asks for it when the fragment has none. The page itself carries no secret, so it needs no token
 * and is served with `Cache-Control: no-store`, `Referrer-Policy: no-referrer` and a strict CSP
 * whose script nonce is new on every response.
 */

export function webChatHeaders(nonce: string): Record<string, string> {
  return {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      "style-src 'unsafe-inline'",
      "connect-src 'self' ws: wss:",
      "img-src 'none'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
  };
}

export function webChatPage(nonce: string, version: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>pipbot</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
  body { margin: 0; display: flex; flex-direction: column; height: 100vh; }
  header { padding: .5rem 1rem; border-bottom: 1px solid #8884; display: flex; gap: 1rem; align-items: center; }
  header b { flex: 1; }
  #status { font-size: .85rem; opacity: .8; }
  #log { flex: 1; overflow-y: auto; padding: 1rem; }
  .msg { max-width: 48rem; margin: 0 auto .75rem; white-space: pre-wrap; line-height: 1.4; }
  .msg .who { font-size: .75rem; opacity: .6; display: block; }
  .user { text-align: right; }
  .user span:last-child { display: inline-block; text-align: left; background: #8882; padding: .35rem .7rem; border-radius: .6rem; }
  .note { font-size: .8rem; opacity: .7; }
  form { display: flex; gap: .5rem; padding: .75rem 1rem; border-top: 1px solid #8884; }
  input { flex: 1; font: inherit; padding: .5rem; }
  button { font: inherit; padding: .5rem 1rem; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header><b>pipbot</b><span id="status">connecting…</span></header>
<div id="log" aria-live="polite"></div>
<form id="auth" hidden>
  <input id="token" type="password" autocomplete="off" placeholder="gateway token (CLAWDBOT_GATEWAY_TOKEN or DATA_DIR/gateway-token)">
  <button>Connect</button>
</form>
<form id="send">
  <input id="text" autocomplete="off" placeholder="Message" disabled>
  <button id="go" disabled>Send</button>
  <button id="stop" type="button" hidden>Stop</button>
</form>
<script nonce="${nonce}">
"use strict";
(() => {
  const VERSION = ${JSON.stringify(version)};
  const SESSION = "main";
  const ENDED = new Set(["aborted", "interrupted", "error"]);
  const $ = (id) => document.getElementById(id);
  const log = $("log"), status = $("status"), text = $("text"), go = $("go"), stop = $("stop");
  // The token: from the fragment, then only in this closure (never stored anywhere).
  function takeToken() {
    const t = new URLSearchParams(location.hash.slice(1)).get("token") || "";
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    return t.trim();
  }
  let token = takeToken();
  let ws = null, nextId = 0, retryMs = 1000, retryTimer = 0, stopped = false, current = null;
  const pending = new Map();
  const bubbles = new Map();
  const uid = () => (crypto.randomUUID ? crypto.randomUUID()
    : Date.now().toString(36) + Math.random().toString(36).slice(2));

  function add(role, str, cls) {
    const d = document.createElement("div");
    d.className = "msg " + (cls || role);
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "you" : role === "assistant" ? "assistant" : "";
    const body = document.createElement("span");
    body.textContent = str;
    d.append(who, body);
    log.append(d);
    log.scrollTop = log.scrollHeight;
    return body;
  }
  const note = (str) => add("note", str, "note");
  const textOf = (m) => (m && Array.isArray(m.content) ? m.content.map((b) => b.text || "").join("") : "");
  function setBusy(runId) {
    current = runId;
    stop.hidden = !runId;
    go.disabled = !!runId || !ws;
  }

  function request(method, params) {
    return new Promise((resolve, reject) => {
      if (!ws || ws.readyState !== 1) return reject(new Error("not connected"));
      const id = "w" + ++nextId;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ type: "req", id, method, params }));
    });
  }

  function onChat(p) {
    // Only this session's runs (events go to every client; "main" and "agent:main:main" are one).
    if (!p || !p.runId || (p.sessionKey !== SESSION && p.sessionKey !== "agent:main:main")) return;
    let b = bubbles.get(p.runId);
    if (!b) {
      b = add("assistant", "");
      bubbles.set(p.runId, b);
    }
    const full = textOf(p.message);
    if (p.state === "delta") b.textContent = full || b.textContent + (p.deltaText || "");
    else {
      if (full) b.textContent = full;
      if (p.state === "aborted") note("[aborted]");
      if (p.state === "error") note("[error] " + (p.errorMessage || "run failed"));
      bubbles.delete(p.runId);
      if (p.runId === current) setBusy(null);
    }
    log.scrollTop = log.scrollHeight;
  }

  async function onHello() {
    retryMs = 1000;
    // History first, then the input: a message typed meanwhile would be wiped by the redraw.
    try {
      const h = await request("chat.history", { sessionKey: SESSION, limit: 50 });
      log.textContent = "";
      bubbles.clear();
      for (const m of h.messages || []) {
        // A turn that ended aborted / interrupted / error: its partial text (if any), then the
        // gateway's notice (always the last content block) shown as a note, not as the reply.
        if (m.role === "assistant" && ENDED.has(m.stopReason) && Array.isArray(m.content)) {
          const partial = textOf({ content: m.content.slice(0, -1) });
          if (partial) add("assistant", partial);
          note(textOf({ content: m.content.slice(-1) }) || "[" + m.stopReason + "]");
        } else add(m.role, textOf(m));
      }
    } catch (e) {
      note("could not load history: " + e.message);
    }
    status.textContent = "connected";
    text.disabled = false;
    setBusy(null);
    text.focus();
  }

  function askToken(why) {
    status.textContent = why;
    $("auth").hidden = false;
    $("token").focus();
  }

  function connect() {
    clearTimeout(retryTimer);
    if (!token) return askToken("token needed");
    $("auth").hidden = true;
    status.textContent = "connecting…";
    const sock = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/");
    ws = sock;
    let authFailed = false;
    sock.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      if (f.type === "event" && f.event === "connect.challenge") {
        request("connect", {
          minProtocol: 4, maxProtocol: 4,
          client: { id: "pipbot-webchat", version: VERSION, platform: "web", mode: "webchat" },
          role: "operator", scopes: ["operator.admin"], auth: { token },
        }).then(onHello, (e) => {
          // Only the gateway's answer refuses; a socket closed meanwhile just reconnects.
          if (!e.refused) return;
          authFailed = true;
          const code = e.details && e.details.code;
          status.textContent = (code && String(code).startsWith("AUTH_") ? "token rejected: " : "not connected: ")
            + e.message + (code ? " [" + code + "]" : "");
          if (code && String(code).startsWith("AUTH_")) token = "";
        });
      } else if (f.type === "event" && f.event === "chat") onChat(f.payload);
      else if (f.type === "event" && f.event === "shutdown") note("gateway restarting…");
      else if (f.type === "res") {
        const p = pending.get(f.id);
        if (!p) return;
        pending.delete(f.id);
        if (f.ok) p.resolve(f.payload);
        else {
          const e = new Error((f.error && f.error.message) || "request failed");
          e.details = f.error && f.error.details;
          e.refused = true;
          p.reject(e);
        }
      }
    };
    sock.onclose = (ev) => {
      if (ws === sock) ws = null;
      for (const p of pending.values()) p.reject(new Error("connection closed"));
      pending.clear();
      text.disabled = true;
      setBusy(null);
      if (stopped) return;
      // Refused (the reason stays in the status line): no reconnect; a rejected token is asked for.
      if (authFailed) {
        if (!token) askToken(status.textContent);
        return;
      }
      status.textContent = "disconnected (" + ev.code + "); retrying…";
      retryTimer = setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 15000);
    };
  }

  // The link opened again in this tab (only the fragment changes: no reload).
  addEventListener("hashchange", () => {
    const t = takeToken();
    if (!t) return;
    token = t;
    if (!ws) connect();
  });
  $("auth").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    connect();
  });
  $("send").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = text.value.trim();
    if (!msg || current) return;
    text.value = "";
    add("user", msg);
    const runId = uid();
    setBusy(runId);
    try {
      await request("chat.send", { sessionKey: SESSION, message: msg, idempotencyKey: runId });
    } catch (e) {
      note("[error] " + e.message);
      setBusy(null);
    }
  });
  stop.addEventListener("click", () => {
    if (current) request("chat.abort", { sessionKey: SESSION, runId: current }).catch(() => {});
  });
  addEventListener("pagehide", () => { stopped = true; if (ws) ws.close(1000); });
  connect();
})();
</script>
</body>
</html>
`;
}
