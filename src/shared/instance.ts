/**
 * Which child answered: the supervisor gives each child it spawns a fresh instance id
 * (PIPBOT_INSTANCE_ID); the process echoes it in an `x-pipbot-instance` header on GET /healthz,
 * and the supervisor's readiness check accepts only an answer carrying its own child's id — so a
 * stranger (another runtime, a leftover process) on the port never makes a child "ready".
 */

import { PIPBOT_HEADERS } from "./headers.ts";

export const INSTANCE_VAR = "PIPBOT_INSTANCE_ID";

/**
 * Wrap a Bun.serve `fetch` so that /healthz answers carry the instance id (when there is one).
 * Every other request goes to `fetch` untouched (WebSocket upgrades included).
 */
export function withInstanceHeader<A extends unknown[], R>(
  fetch: (req: Request, ...rest: A) => R,
  id: string | undefined,
): (req: Request, ...rest: A) => R | Promise<Awaited<R>> {
  if (!id) return fetch;
  return (req, ...rest) => {
    if (!req.url.endsWith("/healthz") || new URL(req.url).pathname !== "/healthz") return fetch(req, ...rest);
    return Promise.resolve(fetch(req, ...rest)).then((res) => {
      if (res instanceof Response) res.headers.set(PIPBOT_HEADERS.instance, id);
      return res;
    });
  };
}
