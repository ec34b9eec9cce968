/**
 * The one price table: USD per million tokens for the models pipbot's AI server can call, used to
 * show the owner what their usage costs (the gateway's `usage.cost` / `sessions.usage`). It is an
 * ESTIMATE for display — billing itself happens in the Convex usage proxy.
 *
 * Sources (public list prices, standard tier, checked 2026-12-04 against these pages):
 * - Anthropic: https://www.anthropic.com/pricing (cache write = 5-minute TTL price)
 * - OpenAI:    https://openai.com/api/pricing (cacheRead = "cached input"; no cache-write charge)
 * - Google:    https://ai.google.dev/gemini-api/docs/pricing (≤200k-token prompts; cacheRead =
 *              context-caching price, storage not included)
 * Reasoning tokens are billed as output tokens by all three; pipbot's usage rows count them inside
 * `outputTokens`, so they are not added again. A model not in this table has no price: its
 * requests are counted as "missing cost", never as $0.
 */

export interface ModelPrice {
  /** USD per million uncached input tokens. */
  input: number;
  /** USD per million output tokens (reasoning included). */
  output: number;
  /** USD per million input tokens read from the prompt cache. */
  cacheRead: number;
  /** USD per million input tokens written to the prompt cache. */
  cacheWrite: number;
}

const p = (input: number, output: number, cacheRead: number, cacheWrite = 0): ModelPrice => ({
  input,
  output,
  cacheRead,
  cacheWrite,
});

/** `provider/model` (a dated snapshot id like `claude-sonnet-4-5-20250929` matches by prefix). */
export const PRICES: Readonly<Record<string, ModelPrice>> = {
  "anthropic/claude-opus-4-1": p(15, 75, 1.5, 18.75),
  "anthropic/claude-opus-4": p(15, 75, 1.5, 18.75),
  "anthropic/claude-sonnet-4-5": p(3, 15, 0.3, 3.75),
  "anthropic/claude-sonnet-4": p(3, 15, 0.3, 3.75),
  "anthropic/claude-3-7-sonnet": p(3, 15, 0.3, 3.75),
  "anthropic/claude-haiku-4-5": p(1, 5, 0.1, 1.25),
  "anthropic/claude-3-5-haiku": p(0.8, 4, 0.08, 1),
  "openai/gpt-5": p(1.25, 10, 0.125),
  "openai/gpt-5-mini": p(0.25, 2, 0.025),
  "openai/gpt-5-nano": p(0.05, 0.4, 0.005),
  "openai/gpt-4.1": p(2, 8, 0.5),
  "openai/gpt-4.1-mini": p(0.4, 1.6, 0.1),
  "openai/gpt-4.1-nano": p(0.1, 0.4, 0.025),
  "openai/gpt-4o": p(2.5, 10, 1.25),
  "openai/gpt-4o-mini": p(0.15, 0.6, 0.075),
  "google/gemini-2.5-pro": p(1.25, 10, 0.31),
  "google/gemini-2.5-flash": p(0.3, 2.5, 0.075),
  "google/gemini-2.5-flash-lite": p(0.1, 0.4, 0.025),
  "google/gemini-2.0-flash": p(0.1, 0.4, 0.025),
};

// Longest key first, so `gpt-4.1-mini` is not priced as `gpt-4.1`.
const KEYS = Object.keys(PRICES).sort((a, b) => b.length - a.length);

/** The price of `provider/model`, or null when the table does not know it. */
export function priceOf(provider: string, model: string): ModelPrice | null {
  const bare = model.startsWith(`${provider}/`) ? model.slice(provider.length + 1) : model;
  const id = `${provider}/${bare}`.toLowerCase();
  const exact = PRICES[id];
  if (exact) return exact;
  // A dated or suffixed snapshot (`…-20250929`, `…-latest`, `…-preview-05-20`) of a known model.
  const key = KEYS.find((k) => id.startsWith(`${k}-`));
  return key ? (PRICES[key] ?? null) : null;
}

export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export interface CostBreakdown {
  inputCost: number;
  outputCost: number;
  cacheReadCost: number;
  cacheWriteCost: number;
  totalCost: number;
}

/** The estimated cost of some tokens at `price` (USD). */
export function costOf(t: TokenCounts, price: ModelPrice): CostBreakdown {
  const m = 1_000_000;
  const inputCost = (t.inputTokens * price.input) / m;
  const outputCost = (t.outputTokens * price.output) / m;
  const cacheReadCost = (t.cacheReadTokens * price.cacheRead) / m;
  const cacheWriteCost = (t.cacheWriteTokens * price.cacheWrite) / m;
  return {
    inputCost,
    outputCost,
    cacheReadCost,
    cacheWriteCost,
    totalCost: inputCost + outputCost + cacheReadCost + cacheWriteCost,
  };
}
