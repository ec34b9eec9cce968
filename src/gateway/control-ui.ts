/**
 * Serving the OpenClaw Control UI bundle (npm `openclaw`, `dist/control-ui`) from the gateway's own
 * origin under `/control/`, as the OpenClaw gateway serves it under its base path: files of the
 * directory as they are; any other path under the base (the UI's client-side routes such as
 * `/control/chat/main`) gets index.html with its relative asset references anchored at the base
 * and the base path announced on <html> (`data-openclaw-control-ui-base-path`). The UI then opens
 * its WebSocket at `/control`, which the socket upgrade accepts. Off unless
 * GATEWAY_CONTROL_UI_DIR names a directory.
 */
import { existsSync, statSync } from "node:fs";
import { join, normalize, resolve, sep } from "node:path";

export const CONTROL_UI_BASE = "/control";

export interface ControlUi {
  /** The response for a GET under the base path, or undefined for any other path. */
  serve(pathname: string): Promise<Response> | undefined;
}

export function createControlUi(dir: string): ControlUi {
  const root = resolve(dir);
  const indexPath = join(root, "index.html");
  if (!existsSync(indexPath)) {
    throw new Error(
      `GATEWAY_CONTROL_UI_DIR: ${root} has no index.html (expected openclaw's dist/control-ui)`,
    );
  }
  let index: string | undefined;
  const indexHtml = async () => {
    index ??= anchorIndexHtml(await Bun.file(indexPath).text());
    return new Response(index, {
      headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" },
    });
  };
  return {
    serve(pathname) {
      if (pathname !== CONTROL_UI_BASE && !pathname.startsWith(`${CONTROL_UI_BASE}/`)) return undefined;
      const rel = pathname.slice(CONTROL_UI_BASE.length).replace(/^\/+/, "");
      if (rel === "" || rel === "index.html") return indexHtml();
      let decoded: string;
      try {
        decoded = decodeURIComponent(rel);
      } catch {
        return Promise.resolve(new Response("bad path", { status: 400 }));
      }
      const file = normalize(join(root, decoded));
      if (!file.startsWith(root + sep)) return Promise.resolve(new Response("not found", { status: 404 }));
      if (existsSync(file) && statSync(file).isFile()) {
        const immutable = decoded.startsWith("assets/");
        return Promise.resolve(
          new Response(Bun.file(file), {
            headers: { "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache" },
          }),
        );
      }
      // A missing asset is a 404 (never index.html: a module script must not get HTML).
      if (decoded.startsWith("assets/")) return Promise.resolve(new Response("not found", { status: 404 }));
      return indexHtml();
    },
  };
}

/** Relative references (`./assets/…`, `./favicon.svg`) anchored at the base; the base announced. */
export function anchorIndexHtml(html: string): string {
  return html
    .replace(/(src|href)="\.\//g, `$1="${CONTROL_UI_BASE}/`)
    .replace(/<html\b/i, `<html data-openclaw-control-ui-base-path="${CONTROL_UI_BASE}"`);
}
