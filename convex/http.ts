/**
 * The deployment's HTTP routes (on the `.convex.site` host):
 * - `POST /sync/v1/push` — sync-v1 receiver (syncPush.ts)
 * - `/llm/anthropic/*`, `/llm/openai/*`, `/llm/google/*` — proxy-v1 usage proxy (proxy.ts)
 * - `/admin/v1/*` — the operator API behind ADMIN_TOKEN (admin.ts), used by `pipbot release rollout`
 */
import { httpRouter } from "convex/server";
import { admin } from "./admin";
import { llm } from "./proxy";
import { push } from "./syncPush";

const http = httpRouter();

http.route({ path: "/sync/v1/push", method: "POST", handler: push });
for (const provider of ["anthropic", "openai", "google"])
  for (const method of ["POST", "GET"] as const)
    http.route({ pathPrefix: `/llm/${provider}/`, method, handler: llm });

for (const method of ["GET", "POST"] as const)
  http.route({ pathPrefix: "/admin/v1/", method, handler: admin });

export default http;
