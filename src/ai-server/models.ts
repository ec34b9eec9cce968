/** Model ids: `provider/model` or bare (→ default provider); the candidate list with fallbacks. */
import { type Provider, splitModel } from "../shared/chat-api.ts";
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

export function resolveModel(
  raw: string | undefined,
  explicit: Provider | undefined,
  d: ModelDefaults,
): ModelRef {
  const s = splitModel(raw ?? d.defaultModel);
  if (explicit && s.provider && s.provider !== explicit)
    throw new PipbotError(
      "invalid_request",
      `provider "${explicit}" does not match the model prefix "${s.provider}/"`,
      {
        details: { path: "provider" },
      },
    );
  const provider = s.provider ?? explicit ?? defaultProvider(d);
  if (!provider)
    throw new PipbotError(
      "invalid_request",
      `model "${s.model}" has no provider: use provider/model (anthropic/, openai/, google/) or set AI_DEFAULT_PROVIDER`,
      {
        details: { path: "model" },
      },
    );
  if (!s.model)
    throw new PipbotError("invalid_request", "model must not be empty", { details: { path: "model" } });
  return { provider, model: s.model, id: `${provider}/${s.model}` };
}

/** Primary model then the fallbacks (request's own list, else AI_FALLBACK_MODELS), without repeats. */
export function candidateModels(primary: ModelRef, fallbacks: string[], d: ModelDefaults): ModelRef[] {
  const out = [primary];
  for (const f of fallbacks) {
    const ref = resolveModel(f, undefined, d);
    if (!out.some((r) => r.id === ref.id)) out.push(ref);
  }
  return out;
}

/** Every model worth listing on GET /v1/models: default, fallbacks, AI_MODELS. */
export function listedModels(d: ModelDefaults, fallbacks: string[], extra: string[]): ModelRef[] {
  const out: ModelRef[] = [];
  for (const m of [d.defaultModel, ...fallbacks, ...extra]) {
    try {
      const ref = resolveModel(m, undefined, d);
      if (!out.some((r) => r.id === ref.id)) out.push(ref);
    } catch {
      /* a bare id without any default provider cannot be listed */
    }
  }
  return out;
}
