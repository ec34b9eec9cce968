/** AI server variables: bind, auth, models, upstreams (proxy-v1 or direct), timeouts, limits. */
import { z } from "zod";
import { PROVIDER_CHOICES, PROVIDERS, type Provider } from "../chat-api.ts";
import { commonVars, convexVars } from "./common.ts";
import {
  bool,
  defineEnv,
  envVar,
  host,
  httpUrl,
  nonNegativeInt,
  type Problem,
  port,
  positiveInt,
  secret,
  tokenRequiredOffLoopback,
} from "./env.ts";

const modelList = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .default([]);

export const aiEnv = defineEnv(
  "ai",
  {
    ...commonVars,
    ...convexVars,
    AI_HOST: envVar(host("127.0.0.1"), {
      doc: "Address the AI server binds. Any non-loopback address (e.g. :: on Fly) requires AI_SERVER_TOKEN.",
      fix: "set AI_HOST to 127.0.0.1 (integrated) or :: (separate app on Fly)",
    }),
    AI_PORT: envVar(port(3000), {
      doc: "AI server port (POST /chat, /v1/chat/completions, /v1/models, /usage, /healthz).",
      fix: "set AI_PORT to a free TCP port, e.g. 3000",
    }),
    AI_SERVER_TOKEN: envVar(secret(16), {
      doc: "Bearer token callers must send when the AI server binds a non-loopback address.",
      fix: "set AI_SERVER_TOKEN to a random string of at least 16 characters, e.g. `openssl rand -hex 24`",
      secret: true,
    }),
    AI_DEFAULT_MODEL: envVar(z.string().min(1).default("anthropic/claude-sonnet-4-5"), {
      doc: "Model used when a request names none (provider/model). Its provider must be configured, else the AI server refuses to start (exit 78).",
      fix: "set AI_DEFAULT_MODEL to provider/model, e.g. anthropic/claude-sonnet-4-5",
    }),
    AI_DEFAULT_PROVIDER: envVar(z.enum(PROVIDERS).optional(), {
      doc: "Provider for a bare model id (no provider/ prefix). Default: the provider of AI_DEFAULT_MODEL.",
      fix: `set AI_DEFAULT_PROVIDER to ${PROVIDER_CHOICES}`,
    }),
    AI_FALLBACK_MODELS: envVar(modelList, {
      doc: "Comma-separated provider/model list tried in order when a model's retries are exhausted.",
      fix: "set AI_FALLBACK_MODELS to e.g. openai/gpt-4.1-mini,google/gemini-2.5-flash",
    }),
    AI_MODELS: envVar(modelList, {
      doc: "Comma-separated extra models listed by GET /v1/models (the default and fallbacks are always listed).",
      fix: "set AI_MODELS to a comma-separated provider/model list",
    }),
    AI_UPSTREAM: envVar(z.enum(["proxy", "direct"]).optional(), {
      doc: "How the AI server reaches the providers: proxy (the Convex usage proxy, proxy-v1: needs CONVEX_URL + PIPBOT_SERVICE_TOKEN + CLERK_USER_ID) or direct (the providers with the keys below). Unset: proxy when those three are set, else direct. Set it to direct to combine your own keys with sync.",
      fix: "set AI_UPSTREAM to proxy or direct",
    }),
    ANTHROPIC_API_KEY: envVar(secret(), {
      doc: "Direct mode: Anthropic API key.",
      fix: "set ANTHROPIC_API_KEY to your Anthropic key",
      secret: true,
    }),
    ANTHROPIC_AUTH_TOKEN: envVar(secret(), {
      doc: "Direct mode: an Anthropic bearer token (sent as Authorization: Bearer instead of x-api-key); alias CLAUDE_ACCESS_TOKEN. ANTHROPIC_API_KEY wins when both are set.",
      fix: "set ANTHROPIC_AUTH_TOKEN to your Anthropic OAuth/bearer token",
      secret: true,
      aliases: ["CLAUDE_ACCESS_TOKEN"],
    }),
    OPENAI_API_KEY: envVar(secret(), {
      doc: "Direct mode: OpenAI (or OpenAI-compatible server) API key. Optional when OPENAI_BASE_URL is set (Ollama, vLLM, LM Studio take none).",
      fix: "set OPENAI_API_KEY to your OpenAI key",
      secret: true,
    }),
    GEMINI_API_KEY: envVar(secret(), {
      doc: "Direct mode: Google Gemini API key (alias GOOGLE_API_KEY).",
      fix: "set GEMINI_API_KEY to your Gemini key",
      secret: true,
      aliases: ["GOOGLE_API_KEY"],
    }),
    GOOGLE_APPLICATION_CREDENTIALS_JSON: envVar(secret(), {
      doc: "Direct mode: Google through Vertex AI with this service-account JSON (the key file's contents). Used when GEMINI_API_KEY is unset.",
      fix: "set GOOGLE_APPLICATION_CREDENTIALS_JSON to the service-account key file's JSON (one line)",
      secret: true,
    }),
    GOOGLE_CLOUD_PROJECT: envVar(z.string().min(1).optional(), {
      doc: "Vertex AI project (default: the service account's project_id).",
      fix: "set GOOGLE_CLOUD_PROJECT to your Google Cloud project id",
    }),
    GOOGLE_CLOUD_LOCATION: envVar(z.string().min(1).default("global"), {
      doc: "Vertex AI location, e.g. global or us-central1.",
      fix: "set GOOGLE_CLOUD_LOCATION to a Vertex AI region, e.g. us-central1",
    }),
    ANTHROPIC_BASE_URL: envVar(httpUrl().optional(), {
      doc: "Direct mode: Anthropic base URL without /v1.",
      fix: "set ANTHROPIC_BASE_URL to e.g. https://api.anthropic.com",
    }),
    OPENAI_BASE_URL: envVar(httpUrl().optional(), {
      doc: "Direct mode: OpenAI-compatible base URL with /v1 (Ollama: http://127.0.0.1:11434/v1).",
      fix: "set OPENAI_BASE_URL to e.g. https://api.openai.com/v1",
    }),
    GOOGLE_GEMINI_BASE_URL: envVar(httpUrl().optional(), {
      doc: "Direct mode: Gemini base URL (the SDK adds /v1 or /v1beta).",
      fix: "set GOOGLE_GEMINI_BASE_URL to e.g. https://generativelanguage.googleapis.com",
    }),
    AI_CONNECT_TIMEOUT_MS: envVar(positiveInt(30_000), {
      doc: "Phase timeout: from sending the upstream request to its response headers.",
      fix: "set AI_CONNECT_TIMEOUT_MS to milliseconds, e.g. 30000",
    }),
    AI_FIRST_TOKEN_TIMEOUT_MS: envVar(positiveInt(120_000), {
      doc: "Phase timeout: from response headers to the first token of a streamed upstream call.",
      fix: "set AI_FIRST_TOKEN_TIMEOUT_MS to milliseconds, e.g. 120000",
    }),
    AI_IDLE_TIMEOUT_MS: envVar(positiveInt(120_000), {
      doc: "Phase timeout: longest silent gap between tokens.",
      fix: "set AI_IDLE_TIMEOUT_MS to milliseconds, e.g. 120000",
    }),
    AI_RESPONSE_TIMEOUT_MS: envVar(positiveInt(600_000), {
      doc: "Phase timeout: a non-stream request's upstream call (one non-stream request upstream) until its whole answer; 10 minutes, as in the provider SDKs.",
      fix: "set AI_RESPONSE_TIMEOUT_MS to milliseconds, e.g. 600000",
    }),
    AI_TOTAL_TIMEOUT_MS: envVar(positiveInt(900_000), {
      doc: "Phase timeout: whole request including retries and fallbacks.",
      fix: "set AI_TOTAL_TIMEOUT_MS to milliseconds, e.g. 900000",
    }),
    AI_MAX_RETRIES: envVar(nonNegativeInt(2), {
      doc: "Retries per model for retryable upstream failures before the first token reaches the caller (non-stream: at any point), then fallbacks.",
      fix: "set AI_MAX_RETRIES to a whole number, e.g. 2",
    }),
    AI_MAX_BODY_BYTES: envVar(positiveInt(4 * 1024 * 1024), {
      doc: "Largest accepted request body.",
      fix: "set AI_MAX_BODY_BYTES to bytes, e.g. 4194304",
    }),
    PIPBOT_SIMULATOR: envVar(bool(false), {
      doc: "Label the AI server as running on the local upstream simulator (identity line, /healthz simulator:true, logs). Set by `pipbot demo` and tests.",
      fix: "set PIPBOT_SIMULATOR to 1 when the base URLs point at `pipbot dev upstream-sim`, else unset it",
    }),
    AI_DRAIN_MS: envVar(positiveInt(5_000), {
      doc: "On SIGTERM: how long in-flight requests may finish before they are ended with a retryable `shutting_down` error (keep it below SUPERVISOR_GRACE_MS, default 8000).",
      fix: "set AI_DRAIN_MS to milliseconds below SUPERVISOR_GRACE_MS, e.g. 5000",
    }),
    AI_KEEPALIVE_MS: envVar(positiveInt(15_000), {
      doc: "SSE keep-alive comment interval while the upstream is silent.",
      fix: "set AI_KEEPALIVE_MS to milliseconds, e.g. 15000",
    }),
  },
  tokenRequiredOffLoopback(
    "AI_HOST",
    "AI_SERVER_TOKEN",
    "set AI_SERVER_TOKEN (≥ 16 characters) and send it as Authorization: Bearer, or bind AI_HOST=127.0.0.1",
  ),
  (v) => {
    const convex = Boolean(v.CONVEX_URL ?? v.CONVEX_SITE_URL);
    // Explicit direct mode: sync's CONVEX_URL does not make the AI server need proxy credentials.
    if (v.AI_UPSTREAM === "direct" || (!convex && v.AI_UPSTREAM !== "proxy")) return [];
    const why = v.AI_UPSTREAM === "proxy" ? "with AI_UPSTREAM=proxy" : "with CONVEX_URL (proxy-v1 mode)";
    const fix = (what: string) =>
      `${what}, or set AI_UPSTREAM=direct to call the providers with your own keys`;
    const out = [];
    if (!convex)
      out.push({
        variable: "CONVEX_URL",
        message: `is required ${why}`,
        fix: fix("set CONVEX_URL (or CONVEX_SITE_URL) to your Convex deployment"),
      });
    if (!v.PIPBOT_SERVICE_TOKEN)
      out.push({
        variable: "PIPBOT_SERVICE_TOKEN",
        message: `is required ${why}`,
        fix: fix("set PIPBOT_SERVICE_TOKEN from provisioning"),
      });
    if (!v.CLERK_USER_ID)
      out.push({
        variable: "CLERK_USER_ID",
        message: `is required ${why}`,
        fix: fix("set CLERK_USER_ID from provisioning"),
      });
    return out;
  },
  (v) => defaultModelProblems(v),
);

type AiValues = Partial<Record<string, unknown>>;
const set = (v: unknown) => typeof v === "string" && v.length > 0;

/**
 * The AI server's upstream, decided in one place (the AI server and `pipbot check` use it):
 * AI_UPSTREAM when set, else proxy when CONVEX_URL/CONVEX_SITE_URL + PIPBOT_SERVICE_TOKEN +
 * CLERK_USER_ID are all set, else direct; and which providers can be called.
 */
export function aiUpstream(v: AiValues): { mode: "proxy" | "direct"; configured: Record<Provider, boolean> } {
  const proxyReady =
    set(v.CONVEX_URL ?? v.CONVEX_SITE_URL) && set(v.PIPBOT_SERVICE_TOKEN) && set(v.CLERK_USER_ID);
  const mode =
    v.AI_UPSTREAM === "direct" ? "direct" : v.AI_UPSTREAM === "proxy" || proxyReady ? "proxy" : "direct";
  if (mode === "proxy") return { mode, configured: { anthropic: true, openai: true, google: true } };
  return {
    mode,
    configured: {
      anthropic: set(v.ANTHROPIC_API_KEY) || set(v.ANTHROPIC_AUTH_TOKEN),
      openai: set(v.OPENAI_API_KEY) || set(v.OPENAI_BASE_URL),
      google: set(v.GEMINI_API_KEY) || set(v.GOOGLE_APPLICATION_CREDENTIALS_JSON),
    },
  };
}

/**
 * AI_DEFAULT_MODEL must resolve, as the AI server resolves a model (ai-server/models.ts), to a
 * configured provider: else every request without a model fails. A known prefix; a slashed id only
 * with AI_DEFAULT_PROVIDER; a bare id → AI_DEFAULT_PROVIDER or the only configured provider.
 * The AI server refuses to start on these (exit 78), `pipbot start` before starting anything, and
 * `pipbot check` reports them. The no-provider case is `noProviderProblem`.
 */
export function defaultModelProblems(v: AiValues): Problem[] {
  const { configured } = aiUpstream(v);
  const model = typeof v.AI_DEFAULT_MODEL === "string" ? v.AI_DEFAULT_MODEL : undefined;
  const prefix = model?.includes("/") ? model.split("/")[0] : undefined;
  const only = PROVIDERS.filter((p) => configured[p]);
  const explicit = v.AI_DEFAULT_PROVIDER as string | undefined;
  const known = (p: string | undefined): p is Provider => (PROVIDERS as readonly string[]).includes(p ?? "");
  const provider = known(prefix)
    ? prefix
    : prefix
      ? explicit
      : (explicit ?? (only.length === 1 ? only[0] : undefined));
  const shown = model !== undefined ? { value: model } : {};
  const list = only.map((p) => `${p}/`).join(", ");
  // No provider at all: `pipbot check` fails it and the AI server warns, but starts (its /healthz
  // and /usage still answer; every chat is refused with provider_not_configured).
  if (only.length === 0) return [];
  if (!known(provider))
    return [
      {
        variable: "AI_DEFAULT_MODEL",
        ...shown,
        message: prefix
          ? `has an unknown provider prefix "${prefix}/": requests without a model would fail`
          : "has no provider prefix and more than one provider is configured: requests without a model would fail",
        fix: `use provider/model with a configured provider (${list}), or set AI_DEFAULT_PROVIDER`,
      },
    ];
  if (!configured[provider])
    return [
      {
        variable: "AI_DEFAULT_MODEL",
        ...shown,
        message: `uses ${provider}, which is not configured: requests without a model would fail`,
        fix: `set AI_DEFAULT_MODEL to a model of a configured provider (${list}), or configure ${provider}`,
      },
    ];
  return [];
}

/** No provider can be called: `pipbot check` fails; the AI server starts with a warning. */
export function noProviderProblem(v: AiValues): Problem | undefined {
  if (PROVIDERS.some((p) => aiUpstream(v).configured[p])) return undefined;
  return {
    variable: "ANTHROPIC_API_KEY",
    message: "no AI provider is configured: every chat would fail",
    fix: "set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN), OPENAI_API_KEY (or OPENAI_BASE_URL), GEMINI_API_KEY (or GOOGLE_APPLICATION_CREDENTIALS_JSON), or CONVEX_URL + PIPBOT_SERVICE_TOKEN + CLERK_USER_ID for proxy mode; to try pipbot without any key, run `./pipbot demo` (the bundled upstream simulator)",
  };
}
