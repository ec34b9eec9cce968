/**
 * The provider registry: which providers are configured and how each SDK reaches its upstream —
 * the Convex usage proxy (proxy-v1) when CONVEX_URL/CONVEX_SITE_URL + PIPBOT_SERVICE_TOKEN +
 * CLERK_USER_ID are set, else the providers directly with their own keys and optional base URLs.
 *
 * The provider SDKs are loaded lazily: a provider's adapter module (and with it its SDK) is
 * imported on that provider's first call, once, and cached — importing all three at start-up
 * cost ~150 ms of the process's cold start and ~20 MB of idle RSS. Nothing in this file may import
 * `./anthropic.ts`, `./openai.ts` or `./google.ts` statically (test/ai-server/lazy-sdk.test.ts).
 */

import { PROVIDERS, type Provider } from "../../shared/chat-api.ts";
import { PipbotError } from "../../shared/errors.ts";
import { PIPBOT_HEADERS } from "../../shared/headers.ts";
import type { ProviderAdapter, ProviderClientConfig } from "./types.ts";
import { CREDENTIAL_VARS } from "./upstream-errors.ts";

export type {
  CallInput,
  ProviderAdapter,
  ProviderCall,
  ProviderEvent,
  ProviderMessage,
  UsagePatch,
} from "./types.ts";

export interface UpstreamSettings {
  /** proxy-v1 when set. */
  proxy?: { siteUrl: string; serviceToken: string; userId: string; machineId?: string };
  keys: Partial<Record<Provider, string>>;
  baseUrls: Partial<Record<Provider, string>>;
  /** The Anthropic credential is a bearer token (ANTHROPIC_AUTH_TOKEN), not an API key. */
  anthropicBearer?: boolean;
  /** Google through Vertex AI with a service account (instead of a Gemini API key). */
  vertex?: { project: string; location: string; credentials: Record<string, unknown> };
  /** Injected for tests; default: Bun fetch with its socket timeout disabled. */
  fetch?: typeof fetch;
}

export interface ProviderRegistry {
  mode: "proxy" | "direct";
  /** proxy-v1: the server's own CLERK_USER_ID (whom a call without a forwarded identity bills). */
  userId?: string;
  configured: Record<Provider, boolean>;
  /** The adapter, or a `provider_not_configured` error naming the variables to set. */
  get(provider: Provider): ProviderAdapter;
  /** The providers whose SDK has been loaded so far (each on its first call). */
  loaded(): Provider[];
}

/** A keyless OpenAI-compatible server (OPENAI_BASE_URL only): the SDK needs some key; none is sent. */
const NO_KEY = "no-key";

const PROXY_PATHS: Record<Provider, string> = {
  anthropic: "/llm/anthropic",
  openai: "/llm/openai/v1",
  google: "/llm/google",
};

type Factory = (c: ProviderClientConfig) => ProviderAdapter;

/** Dynamic imports only: each SDK is loaded on its provider's first call. */
const LOADERS: Record<Provider, () => Promise<Factory>> = {
  anthropic: () => import("./anthropic.ts").then((m) => m.anthropicAdapter),
  openai: () => import("./openai.ts").then((m) => m.openaiAdapter),
  google: () => import("./google.ts").then((m) => m.googleAdapter),
};

interface LazyAdapter extends ProviderAdapter {
  readonly isLoaded: boolean;
}

/**
 * An adapter whose SDK is imported (and its client built) on the first call; concurrent first
 * calls share the one import; later calls go straight to the loaded adapter. A failed import is
 * not cached (the next call tries again).
 */
function lazyAdapter(provider: Provider, cfg: ProviderClientConfig): LazyAdapter {
  let ready: ProviderAdapter | undefined;
  let loading: Promise<ProviderAdapter> | undefined;
  const load = () => {
    loading ??= LOADERS[provider]().then(
      (factory) => {
        ready = factory(cfg);
        return ready;
      },
      (e: unknown) => {
        loading = undefined;
        throw new PipbotError(
          "internal",
          `could not load the ${provider} SDK: ${e instanceof Error ? e.message : String(e)}`,
        );
      },
    );
    return loading;
  };
  return {
    provider,
    get isLoaded() {
      return ready !== undefined;
    },
    openStream: (call) => (ready ? ready.openStream(call) : load().then((a) => a.openStream(call))),
    complete: async (call) => {
      const a = ready ?? (await load());
      return a.complete ? a.complete(call) : undefined;
    },
    countTokens: async (call) => {
      const a = ready ?? (await load());
      if (!a.countTokens)
        throw new PipbotError("invalid_request", `token counting is not available for ${provider} models`, {
          details: { provider },
        });
      return a.countTokens(call);
    },
  };
}

/**
 * Bun's fetch gives up after ~300 s of socket silence, below long LLM generations; `timeout:
 * false` (a Bun extension) turns that off. Our own phase timers bound every request instead.
 */
export const untimedFetch: typeof fetch = Object.assign(
  (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) =>
    fetch(input, { ...init, timeout: false } as RequestInit),
  { preconnect: fetch.preconnect },
);

export function createProviderRegistry(s: UpstreamSettings): ProviderRegistry {
  const f = s.fetch ?? untimedFetch;
  const adapters: Partial<Record<Provider, LazyAdapter>> = {};
  if (s.proxy) {
    const p = s.proxy;
    const headers: Record<string, string> = {
      [PIPBOT_HEADERS.serviceToken]: p.serviceToken,
      [PIPBOT_HEADERS.userId]: p.userId,
    };
    if (p.machineId) headers[PIPBOT_HEADERS.machineId] = p.machineId;
    for (const name of PROVIDERS)
      adapters[name] = lazyAdapter(name, {
        apiKey: p.serviceToken,
        baseURL: `${p.siteUrl}${PROXY_PATHS[name]}`,
        defaultHeaders: headers,
        fetch: f,
      });
  } else {
    for (const name of PROVIDERS) {
      const baseURL = s.baseUrls[name];
      const keyless = name === "openai" && !s.keys.openai && baseURL !== undefined;
      const vertex = name === "google" && !s.keys.google ? s.vertex : undefined;
      const key = s.keys[name] ?? (keyless ? NO_KEY : vertex ? "" : undefined);
      if (key === undefined) continue;
      adapters[name] = lazyAdapter(name, {
        apiKey: key,
        ...(baseURL ? { baseURL } : {}),
        defaultHeaders: {},
        fetch: f,
        ...(keyless ? { keyless: true } : {}),
        ...(name === "anthropic" && s.anthropicBearer ? { bearer: true } : {}),
        ...(vertex ? { vertex } : {}),
      });
    }
  }
  const configured = {
    anthropic: Boolean(adapters.anthropic),
    openai: Boolean(adapters.openai),
    google: Boolean(adapters.google),
  };
  return {
    mode: s.proxy ? "proxy" : "direct",
    ...(s.proxy ? { userId: s.proxy.userId } : {}),
    configured,
    loaded: () => PROVIDERS.filter((p) => adapters[p]?.isLoaded),
    get(provider) {
      const a = adapters[provider];
      if (a) return a;
      throw new PipbotError(
        "provider_not_configured",
        `provider "${provider}" is not configured: set ${CREDENTIAL_VARS[provider]} (direct mode), or CONVEX_URL + PIPBOT_SERVICE_TOKEN + CLERK_USER_ID (proxy mode)`,
        { details: { provider } },
      );
    },
  };
}
