/**
 * USD per million tokens by model (longest matching prefix wins). A reference table: operators
 * edit it to their contracts. Unknown models cost the provider's fallback row, so spend is never
 * silently zero.
 */
import type { Tokens } from "./usageMeter";

interface Rate {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

const r = (input: number, output: number, cacheRead = input / 10, cacheWrite = input * 1.25): Rate => ({
  input,
  output,
  cacheRead,
  cacheWrite,
});

const PRICES: [provider: string, prefix: string, rate: Rate][] = [
  ["anthropic", "claude-opus-4", r(15, 75)],
  ["anthropic", "claude-sonnet-4", r(3, 15)],
  ["anthropic", "claude-haiku-4", r(1, 5)],
  ["anthropic", "claude-3-5-haiku", r(0.8, 4)],
  ["anthropic", "", r(3, 15)],
  ["openai", "gpt-5-mini", r(0.25, 2, 0.025, 0.25)],
  ["openai", "gpt-5", r(1.25, 10, 0.125, 1.25)],
  ["openai", "gpt-4.1-mini", r(0.4, 1.6, 0.1, 0.4)],
  ["openai", "gpt-4o-mini", r(0.15, 0.6, 0.075, 0.15)],
  ["openai", "gpt-4o", r(2.5, 10, 1.25, 2.5)],
  ["openai", "", r(1.25, 10, 0.125, 1.25)],
  ["google", "gemini-2.5-pro", r(1.25, 10, 0.31, 1.25)],
  ["google", "gemini-2.5-flash", r(0.3, 2.5, 0.075, 0.3)],
  ["google", "", r(0.3, 2.5, 0.075, 0.3)],
];

export function rateFor(provider: string, model: string | undefined): Rate {
  const m = (model ?? "").replace(/^models\//, "");
  let best: [string, string, Rate] | undefined;
  for (const row of PRICES)
    if (row[0] === provider && m.startsWith(row[1]) && (!best || row[1].length > best[1].length)) best = row;
  return best?.[2] ?? r(3, 15);
}

export function costUsd(provider: string, model: string | undefined, t: Tokens): number {
  const rate = rateFor(provider, model);
  return (
    (t.inputTokens * rate.input +
      t.outputTokens * rate.output +
      t.cacheReadTokens * rate.cacheRead +
      t.cacheWriteTokens * rate.cacheWrite) /
    1_000_000
  );
}
