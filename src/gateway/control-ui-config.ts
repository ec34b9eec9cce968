/**
 * The two HTTP answers the OpenClaw Control UI asks its gateway for besides the WebSocket:
 * `GET <base>/control-ui-config.json` (its bootstrap config: who the assistant is, the server
 * version, which optional surfaces exist) and `GET <base>/avatar/<agentId>` (the assistant's
 * avatar image; `?meta=1` answers `{avatarUrl}`). Served at the root and under the Control UI's
 * mount path (`/control`), registered before the UI's own catch-all so they are never answered
 * with index.html. Neither holds a secret, so neither needs the token (the UI fetches them before
 * it connects).
 */
import type { Env, Hono } from "hono";
import { AGENT_ID, AGENT_NAME } from "./methods/identity.ts";

/** Where the Control UI may be mounted: the root, and `/control` where the gateway serves it. */
export const CONTROL_UI_MOUNTS = ["", "/control"] as const;

const AVATAR_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">
<rect width="128" height="128" rx="28" fill="#2b6cb0"/>
<circle cx="64" cy="58" r="30" fill="#fff"/>
<circle cx="53" cy="54" r="6" fill="#2b6cb0"/><circle cx="75" cy="54" r="6" fill="#2b6cb0"/>
<path d="M50 70 q14 12 28 0" stroke="#2b6cb0" stroke-width="5" fill="none" stroke-linecap="round"/>
<rect x="60" y="14" width="8" height="16" rx="4" fill="#fff"/>
</svg>
`;

const headers = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** The bootstrap config of the Control UI mounted at `basePath` (OpenClaw's ControlUiBootstrapConfig). */
export function controlUiConfig(basePath: string, version: string) {
  return {
    basePath,
    assistantName: AGENT_NAME,
    assistantAvatar: `${basePath}/avatar/${AGENT_ID}`,
    assistantAvatarSource: "pipbot",
    assistantAvatarStatus: "local",
    assistantAgentId: AGENT_ID,
    serverVersion: version,
    embedSandbox: "strict",
    allowExternalEmbedUrls: false,
    automaticallyFetchFavicons: false,
    communityInvite: false,
    terminalEnabled: false,
    uploadsEnabled: true,
    cliAgentsEnabled: false,
    pluginAssetsRequireAuth: true,
    pluginFrameGrants: [],
  };
}

export function registerControlUiConfig<E extends Env>(http: Hono<E>, version: string): void {
  for (const base of CONTROL_UI_MOUNTS) {
    http.get(`${base}/control-ui-config.json`, (c) => c.json(controlUiConfig(base, version), 200, headers));
    http.get(`${base}/avatar/:agentId`, (c) => {
      const agentId = c.req.param("agentId");
      if (agentId !== AGENT_ID)
        return c.json(
          { error: { code: "not_found", message: `no agent ${agentId.slice(0, 64)}` } },
          404,
          headers,
        );
      if (c.req.query("meta") === "1")
        return c.json({ avatarUrl: `${base}/avatar/${AGENT_ID}` }, 200, headers);
      return c.body(AVATAR_SVG, 200, {
        ...headers,
        "content-type": "image/svg+xml",
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
      });
    });
  }
}
