/**
 * The small web chat served at `GET /`: one self-contained HTML page (inline CSS and JS, no build
 * step, no external resources) that speaks protocol 4 over a WebSocket to the same address. It
 * reads the token from the URL fragment (`/#token=…`, which browsers never send to a server),
 * removes it from the address bar at once, keeps it only in memory (no storage, no cookie), and
 * asks for it when the fragment has none. The page itself carries no secret, so it needs no token
 * and is served with `Cache-Control: no-store`, `Referrer-Policy: no-referrer` and a strict CSP
 * whose script nonce is new on every response; images are allowed only as `blob:` (the thumbnails of
 * the user's own attachments). The script is webchat-script.ts.
 */
import { webChatScript } from "./webchat-script.ts";

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
      // Thumbnails of the images being attached (object URLs of the user's own files) only.
      "img-src blob:",
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
  header b { margin-right: .25rem; }
  #status { margin-left: auto; }
  #status, #model { font-size: .85rem; opacity: .8; }
  #sim { font-size: .75rem; font-weight: bold; letter-spacing: .05em; padding: .1rem .4rem; border-radius: .3rem; background: #c60; color: #fff; }
  select { font: inherit; max-width: 14rem; }
  .thumb { display: block; max-width: 12rem; max-height: 8rem; margin-top: .3rem; border-radius: .3rem; }
  #pending { display: flex; gap: .5rem; padding: .5rem 1rem 0; }
  .pending { position: relative; }
  .pending button { position: absolute; top: 0; right: 0; padding: 0 .3rem; }
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
<header>
  <b>pipbot</b>
  <select id="session" aria-label="session"></select>
  <button id="new" type="button" title="start a new, empty session">New</button>
  <span id="model"></span>
  <span id="sim" hidden title="the AI server answers with the bundled simulator: no real model">SIMULATOR</span>
  <span id="status">connecting…</span>
</header>
<div id="log" aria-live="polite"></div>
<form id="auth" hidden>
  <input id="token" type="password" autocomplete="off" placeholder="gateway token (CLAWDBOT_GATEWAY_TOKEN or DATA_DIR/gateway-token)">
  <button>Connect</button>
</form>
<div id="pending" hidden></div>
<form id="send">
  <button id="attach" type="button" title="attach an image (or paste one into the message)">Image</button>
  <input id="file" type="file" accept="image/png,image/jpeg,image/gif,image/webp" multiple hidden>
  <input id="text" autocomplete="off" placeholder="Message (paste an image to attach it)" disabled>
  <button id="go" disabled>Send</button>
  <button id="stop" type="button" hidden>Stop</button>
</form>
<script nonce="${nonce}">
${webChatScript(version)}</script>
</body>
</html>
`;
}
