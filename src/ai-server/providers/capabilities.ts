/**
 * What each provider can honour, in one table. A request that asks for something the chosen
 * provider (or model) cannot do is refused with a 400 naming the parameter and the provider —
 * never silently dropped — unless the caller opted in to dropping (`drop_params: true` or the
 * `x-pipbot-drop-params: true` header); then the parameter is removed and named in the
 * `x-pipbot-dropped-params` response header. docs/AI-SERVER.md renders this table.
 */
import type { Provider, Reasoning } from "../../shared/chat-api.ts";
import { PipbotError } from "../../shared/errors.ts";
import type { CallInput } from "./types.ts";

/** Anthropic's minimum thinking budget; effort → budget tokens (Anthropic, Gemini); none → 0. */
const BUDGETS = { none: 0, minimal: 1024, low: 2048, medium: 8192, high: 24576 } as const;

export function thinkingBudget(r: Reasoning | undefined): number | undefined {
  if (!r) return undefined;
  if (r.budgetTokens !== undefined) return r.budgetTokens;
  return r.effort ? BUDGETS[r.effort] : BUDGETS.medium;
}

/** True when the call asks for reasoning (not absent, not effort none, not a budget of 0). */
export function thinks(r: Reasoning | undefined): boolean {
  return (thinkingBudget(r) ?? 0) > 0;
}

/** Decoded bytes each provider takes inline, per part type. */
export const MEDIA_LIMITS: Record<Provider, { image: number; document: number }> = {
  anthropic: { image: 5 * 1024 * 1024, document: 32 * 1024 * 1024 },
  openai: { image: 20 * 1024 * 1024, document: 32 * 1024 * 1024 },
  google: { image: 20 * 1024 * 1024, document: 20 * 1024 * 1024 },
};

/** Models known to take text only (a bare OpenAI-compatible server's model is assumed capable). */
const TEXT_ONLY_MODELS = /^(gpt-3\.5|o1-mini|o3-mini|gpt-4-(0314|0613)$|text-)/;

interface Rule {
  /** The caller's parameter name (as /v1 spells it). */
  param: string;
  /** Why `provider`/`model` cannot honour it here, or null when it can (or it is not used). */
  refuse(provider: Provider, model: string, c: CallInput): string | null;
  /** Remove the parameter from the call (drop mode). */
  drop(c: CallInput): void;
}

const hasPart = (c: CallInput, pred: (type: string, p: Record<string, unknown>) => boolean) =>
  c.messages.some((m) =>
    m.content.some(
      (p) =>
        pred(p.type, p as Record<string, unknown>) ||
        (p.type === "tool_result" &&
          typeof p.content !== "string" &&
          p.content.some((q) => pred(q.type, q as Record<string, unknown>))),
    ),
  );

const forcedTool = (c: CallInput) =>
  c.toolChoice === "required" || typeof c.toolChoice === "object" || c.responseFormat?.type === "json_object";

const RULES: Rule[] = [
  {
    param: "seed",
    refuse: (p, _m, c) => (c.seed !== undefined && p === "anthropic" ? "Anthropic has no seed" : null),
    drop: (c) => delete c.seed,
  },
  {
    param: "top_k",
    refuse: (p, _m, c) => (c.topK !== undefined && p === "openai" ? "OpenAI has no top_k" : null),
    drop: (c) => delete c.topK,
  },
  {
    param: "frequency_penalty",
    refuse: (p, _m, c) =>
      c.frequencyPenalty && p === "anthropic" ? "Anthropic has no frequency penalty" : null,
    drop: (c) => delete c.frequencyPenalty,
  },
  {
    param: "presence_penalty",
    refuse: (p, _m, c) =>
      c.presencePenalty && p === "anthropic" ? "Anthropic has no presence penalty" : null,
    drop: (c) => delete c.presencePenalty,
  },
  {
    param: "stop",
    refuse: (p, _m, c) => {
      const n = c.stop?.length ?? 0;
      if (p === "openai" && n > 4) return "OpenAI takes at most 4 stop sequences";
      return p === "google" && n > 5 ? "Gemini takes at most 5 stop sequences" : null;
    },
    drop: (c) => delete c.stop,
  },
  {
    param: "parallel_tool_calls",
    refuse: (p, _m, c) =>
      c.parallelToolCalls === false && p === "google"
        ? "Gemini cannot be told to make one call at a time"
        : null,
    drop: (c) => delete c.parallelToolCalls,
  },
  {
    param: "prompt_cache_key",
    refuse: (p, _m, c) =>
      c.promptCacheKey !== undefined && p !== "openai" ? "only OpenAI takes a prompt cache key" : null,
    drop: (c) => delete c.promptCacheKey,
  },
  {
    param: "reasoning.budget_tokens",
    refuse: (p, _m, c) =>
      c.reasoning?.budgetTokens !== undefined && p === "openai"
        ? "OpenAI takes a reasoning effort, not a token budget"
        : null,
    drop: (c) => {
      if (c.reasoning) delete c.reasoning.budgetTokens;
    },
  },
  {
    param: "temperature",
    refuse: (p, _m, c) =>
      p === "anthropic" && thinks(c.reasoning) && c.temperature !== undefined && c.temperature !== 1
        ? "Anthropic's extended thinking runs at temperature 1 only"
        : null,
    drop: (c) => delete c.temperature,
  },
  {
    param: "tool_choice",
    refuse: (p, _m, c) =>
      p === "anthropic" && thinks(c.reasoning) && forcedTool(c)
        ? "Anthropic's extended thinking cannot be combined with a forced tool (tool_choice required/named, or response_format json_object)"
        : null,
    drop: (c) => delete c.toolChoice,
  },
  {
    param: "max_tokens",
    refuse: (p, _m, c) => {
      const b = thinkingBudget(c.reasoning);
      return p === "anthropic" && b && c.maxTokens !== undefined && c.maxTokens <= b
        ? `Anthropic needs max_tokens above the thinking budget (${b})`
        : null;
    },
    drop: (c) => delete c.maxTokens,
  },
  {
    param: "image",
    refuse: (_p, m, c) =>
      TEXT_ONLY_MODELS.test(m) && hasPart(c, (t) => t === "image") ? `model ${m} takes text only` : null,
    drop: () => {
      throw new PipbotError(
        "invalid_request",
        "image parts cannot be dropped: remove them from the messages",
      );
    },
  },
  {
    param: "document",
    refuse: (p, m, c) => {
      if (!hasPart(c, (t) => t === "document")) return null;
      if (TEXT_ONLY_MODELS.test(m)) return `model ${m} takes text only`;
      if (p === "openai" && hasPart(c, (t, q) => t === "document" && q.url !== undefined))
        return "OpenAI Chat Completions takes a PDF as inline data only (send data, not url)";
      return null;
    },
    drop: () => {
      throw new PipbotError(
        "invalid_request",
        "document parts cannot be dropped: remove them from the messages",
      );
    },
  },
  {
    param: "tool_result image",
    refuse: (p, _m, c) =>
      p !== "anthropic" &&
      c.messages.some((m) =>
        m.content.some(
          (x) =>
            x.type === "tool_result" &&
            typeof x.content !== "string" &&
            x.content.some((q) => q.type === "image"),
        ),
      )
        ? `${p === "openai" ? "OpenAI" : "Gemini"} tool results take text only`
        : null,
    drop: () => {
      throw new PipbotError("invalid_request", "images in tool results cannot be dropped: remove them");
    },
  },
];

/** Every media part within its provider's size limit (decoded bytes of base64 data). */
function checkMediaSize(provider: Provider, c: CallInput): void {
  const limits = MEDIA_LIMITS[provider];
  c.messages.forEach((m, i) => {
    for (const p of m.content) {
      if ((p.type !== "image" && p.type !== "document") || p.data === undefined) continue;
      const bytes = Math.floor((p.data.length * 3) / 4);
      const max = limits[p.type];
      if (bytes > max)
        throw new PipbotError(
          "invalid_request",
          `messages.${i}: a ${p.mimeType} ${p.type} of ${bytes} bytes is over ${provider}'s ${max}-byte limit`,
          { details: { path: `messages.${i}.content`, provider } },
        );
    }
  });
}

/**
 * The call this provider/model gets: unchanged, or without the parameters it cannot honour when
 * the caller allowed dropping. Otherwise a 400 naming the parameter and the provider.
 */
export function fitCall(
  provider: Provider,
  model: string,
  call: CallInput,
  allowDrop: boolean,
): { call: CallInput; dropped: string[] } {
  checkMediaSize(provider, call);
  const out: CallInput = allowDrop
    ? { ...call, ...(call.reasoning ? { reasoning: { ...call.reasoning } } : {}) }
    : call;
  const dropped: string[] = [];
  for (const r of RULES) {
    const why = r.refuse(provider, model, out);
    if (why === null) continue;
    if (!allowDrop)
      throw new PipbotError(
        "invalid_request",
        `${r.param} is not supported by ${provider}/${model}: ${why}. Remove it, or send drop_params: true (or the header x-pipbot-drop-params: true) to have it dropped`,
        { details: { path: r.param, provider } },
      );
    r.drop(out);
    dropped.push(r.param);
  }
  return { call: out, dropped };
}
