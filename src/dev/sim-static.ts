/**
 * The simulator's fixed answers: GET /healthz (and /), GET …/v1/models (one model, "sim"), the
 * fixture files under GET /files/<name> (for image and PDF URL tests), and its JSON response.
 */

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

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** The answer to a GET of `path`, or undefined when it is not one of the fixed routes. */
export function getRoute(path: string): Response | undefined {
  if (path === "/healthz" || path === "/") return jsonResponse(200, { ok: true, simulator: true });
  const file = path.startsWith("/files/") ? SIM_FILES[path.slice(7)] : undefined;
  if (file) return new Response(file.body, { headers: { "content-type": file.type } });
  if (path.endsWith("/v1/models"))
    return jsonResponse(200, {
      object: "list",
      data: [{ id: "sim", object: "model", created: 0, owned_by: "pipbot-sim" }],
    });
  return undefined;
}
