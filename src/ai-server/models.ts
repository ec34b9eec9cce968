/** Model ids: `provider/model` or bare (→ default provider); the candidate list with fallbacks. */
import { PROVIDERS, type Provider, splitModel } from "../shared/chat-api.ts";
import { PipbotError } from "../shared/errors.ts";

export interface ModelRef {
  provider: Provider;
  /** Bare model id sent upstream. */
  model: string;
  /** `provider/model`. */
  id: string;
}

export interface ModelDefaults {
  defaultModel: string;
  defaultProvider?: Provider;
}

/** The provider for bare model ids: AI_DEFAULT_PROVIDER, else the provider of AI_DEFAULT_MODEL. */
export function defaultProvider(d: ModelDefaults): Provider | undefined {
  return d.defaultProvider ?? splitModel(d.defaultModel).provider;
}

type Configured = Partial<Record<Provider, boolean>>;

const configuredList = (c: Configured | undefined) =>
  PROVIDERS.filter((p) => c?.[p])
    .map((p) => `${p}/`)
    .join(", ") || "none";

/**
 * A model id → provider + bare model:
 * - `provider/model` with a known provider prefix → that provider;
 * - any other slashed id (`meta-llama/llama-3`) → the whole id for AI_DEFAULT_PROVIDER when it is
 *   set (OpenAI-compatible servers), else a 400 listing the configured providers;
 * - a bare id → the request's provider, AI_DEFAULT_PROVIDER, the only configured provider, or the
 *   provider of AI_DEFAULT_MODEL, in that order.
 */
export function resolveModel(
  raw: string | undefined,
  explicit: Provider | undefined,
  d: ModelDefaults,
  configured?: Configured,
): ModelRef {
  const id = raw ?? d.defaultModel;
  const s = splitModel(id);
  if (explicit && s.provider && s.provider !== explicit)
    throw new PipbotError(
      "invalid_request",
      `provider "${explicit}" does not match the model prefix "${s.provider}/"`,
      {
        details: { path: "provider" },
      },
    );
  let provider = s.provider ?? explicit;
  if (!provider && id.includes("/")) {
    if (!d.defaultProvider)
      throw new PipbotError(
        "invalid_request",
        `model "${id}" has an unknown provider prefix "${id.slice(0, id.indexOf("/"))}/": use one of the configured providers (${configuredList(configured)}), or set AI_DEFAULT_PROVIDER to send slashed ids as they are to that provider (OpenAI-compatible servers)`,
        { details: { path: "model" } },
      );
    provider = d.defaultProvider;
  }
  if (!provider) {
    const only = configured ? PROVIDERS.filter((p) => configured[p]) : [];
    provider = d.defaultProvider ?? (only.length === 1 ? only[0] : undefined) ?? defaultProvider(d);
  }
  if (!provider)
    throw new PipbotError(
      "invalid_request",
      `model "${s.model}" has no provider: use provider/model (${configuredList(configured)}) or set AI_DEFAULT_PROVIDER`,
      { details: { path: "model" } },
    );
  if (!s.model)
    throw new PipbotError("invalid_request", "model must not be empty", { details: { path: "model" } });
  return { provider, model: s.model, id: `${provider}/${s.model}` };
}

/** Primary model then the fallbacks (request's own list, else AI_FALLBACK_MODELS), without repeats. */
export function candidateModels(
  primary: ModelRef,
  fallbacks: string[],
  d: ModelDefaults,
  configured?: Configured,
): ModelRef[] {
  const out = [primary];
  for (const f of fallbacks) {
    const ref = resolveModel(f, undefined, d, configured);
    if (!out.some((r) => r.id === ref.id)) out.push(ref);
  }
  return out;
}

/** Every model worth listing on GET /v1/models: default, fallbacks, AI_MODELS. */
export function listedModels(
  d: ModelDefaults,
  fallbacks: string[],
  extra: string[],
  configured?: Configured,
): ModelRef[] {
  const out: ModelRef[] = [];
  for (const m of [d.defaultModel, ...fallbacks, ...extra]) {
    try {
      // Resolved like a request's model, so a bare id goes to the only configured provider.
      const ref = resolveModel(m, undefined, d, configured);
      if (!out.some((r) => r.id === ref.id)) out.push(ref);
    } catch {
      /* a bare id without any default provider cannot be listed */
    }
  }
  return out;
}
