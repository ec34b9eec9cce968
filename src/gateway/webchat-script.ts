/**
 * The web chat's script (inlined into the page by webchat.ts under a CSP nonce). Plain browser JS,
 * no template literals inside so it can live in this string. It owns: the connection (token from
 * the fragment, kept in memory only; reconnect with backoff unless the token was refused), the
 * sessions (New via sessions.create or a fresh key; the list, switching, the model line and the
 * SIMULATOR badge are webchat-sessions.ts, inlined here), history (turns that did not end final shown
 * as a note), streaming with Stop, and image attachments (picker or paste; png, jpeg, gif, webp up
 * to 5 MB each) sent as chat.send `attachments` [{type:"image", mimeType, fileName, content}].
 */
import { WEBCHAT_ATTACH_SCRIPT } from "./webchat-attach.ts";
import { WEBCHAT_SESSIONS_SCRIPT } from "./webchat-sessions.ts";

export function webChatScript(version: string): string {
  return `"use strict";
(() => {
  const VERSION = ${JSON.stringify(version)};
  const ENDED = new Set(["aborted", "interrupted", "error"]);
  const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
  const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
  const $ = (id) => document.getElementById(id);
  const log = $("log"), status = $("status"), text = $("text"), go = $("go"), stop = $("stop");
  const sessionSel = $("session"), modelEl = $("model"), simEl = $("sim"), pendingEl = $("pending"), fileIn = $("file");
  // The token: from the fragment, then only in this closure (never stored anywhere).
  function takeToken() {
    const t = new URLSearchParams(location.hash.slice(1)).get("token") || "";
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    return t.trim();
  }
  let token = takeToken();
  let ws = null, nextId = 0, retryMs = 1000, retryTimer = 0, stopped = false, current = null;
  let session = "main", methods = [], attachments = [];
  const pending = new Map();
  const bubbles = new Map();
  const uid = () => (crypto.randomUUID ? crypto.randomUUID()
    : Date.now().toString(36) + Math.random().toString(36).slice(2));
  const short = (k) => (String(k).indexOf("agent:main:") === 0 ? String(k).slice(11) : String(k));
  const same = (a, b) => short(a) === short(b);
  const offers = (m) => methods.indexOf(m) >= 0;
  const qualified = (m, p) => (!m ? "" : p && m.indexOf(p + "/") !== 0 ? p + "/" + m : m);

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
  const textOf = (m) => (m && Array.isArray(m.content)
    ? m.content.map((b) => (!b || (b.type && b.type !== "text") ? "" : b.text || "")).join("") : "");
  function thumbs(body, urls) {
    for (const url of urls) {
      const img = document.createElement("img");
      img.src = url;
      img.alt = "attached image";
      img.className = "thumb";
      body.append(img);
    }
  }
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
    if (!p || !p.runId || !same(p.sessionKey || "", session)) return;
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

  function showMessage(m) {
    const blocks = Array.isArray(m.content) ? m.content : [];
    // A turn that ended aborted / interrupted / error: its partial text (if any), then the
    // gateway's notice (always the last content block) shown as a note, not as the reply.
    if (m.role === "assistant" && ENDED.has(m.stopReason) && blocks.length > 0) {
      const partial = textOf({ content: blocks.slice(0, -1) });
      if (partial) add("assistant", partial);
      note(textOf({ content: blocks.slice(-1) }) || "[" + m.stopReason + "]");
      return;
    }
    const files = blocks.filter((b) => b && (b.type === "image" || b.type === "document")).length;
    const body = add(m.role, textOf(m));
    if (files > 0) body.append((body.textContent ? " " : "") + "[" + files + " attachment" + (files > 1 ? "s" : "") + "]");
  }

  async function showHistory() {
    const h = await request("chat.history", { sessionKey: session, limit: 50 });
    log.textContent = "";
    bubbles.clear();
    for (const m of h.messages || []) showMessage(m);
  }

${WEBCHAT_SESSIONS_SCRIPT}  async function onHello(hello) {
    retryMs = 1000;
    methods = (hello && hello.features && hello.features.methods) || [];
    // History first, then the input: a message typed meanwhile would be wiped by the redraw.
    try {
      await showHistory();
    } catch (e) {
      note("could not load history: " + e.message);
    }
    status.textContent = "connected";
    text.disabled = false;
    setBusy(null);
    text.focus();
    showSessions().then(showModel).catch(() => {});
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

${WEBCHAT_ATTACH_SCRIPT}  // The link opened again in this tab (only the fragment changes: no reload).
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
  sessionSel.addEventListener("change", () => switchTo(sessionSel.value));
  $("new").addEventListener("click", async () => {
    let key = "";
    if (offers("sessions.create")) {
      const r = await request("sessions.create", {}).catch((e) => {
        note("[error] new session: " + e.message);
        return null;
      });
      if (!r) return;
      key = r.key || "";
    }
    // Without sessions.create a fresh key is a new session: the gateway creates it on the first message.
    await switchTo(key || "web-" + uid().slice(0, 8));
  });
  $("send").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = text.value.trim();
    if ((!msg && attachments.length === 0) || current) return;
    const sending = attachments;
    attachments = [];
    showPending();
    text.value = "";
    const body = add("user", msg);
    thumbs(body, sending.map((a) => a.url));
    const runId = uid();
    setBusy(runId);
    try {
      const params = { sessionKey: session, message: msg, idempotencyKey: runId };
      if (sending.length > 0) {
        const contents = await Promise.all(sending.map((a) => a.content));
        params.attachments = sending.map((a, i) => ({ type: "image", mimeType: a.mimeType, fileName: a.fileName, content: contents[i] }));
      }
      await request("chat.send", params);
    } catch (e) {
      note("[error] " + e.message);
      setBusy(null);
    }
  });
  stop.addEventListener("click", () => {
    if (current) request("chat.abort", { sessionKey: session, runId: current }).catch(() => {});
  });
  addEventListener("pagehide", () => { stopped = true; if (ws) ws.close(1000); });
  connect();
})();
`;
}
