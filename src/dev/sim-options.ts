/**
 * Upstream simulator: the deterministic reply. Its per-request options (the model name after `@`,
 * the header `x-sim-options`) are parsed by src/shared/sim-model.ts, re-exported here.
 */
export {
  parseSimOptions,
  SIM_OPTION_KEYS,
  type SimFault,
  SimOptionError,
  type SimOptions,
  simModelRefusal,
  splitSimModel,
  UNKNOWN_SIM_MODEL,
} from "../shared/sim-model.ts";

/**
 * The deterministic reply, as `tokens` chunks: chunk 0 quotes the last user message
 * (`You said: <text>.`), the others are numbered filler words (` w1`, ` w2`, …).
 */
export function replyChunks(lastUserText: string, tokens: number): string[] {
  const quote = lastUserText.replace(/\s+/g, " ").trim();
  const chunks = [`You said: ${quote}.`];
  for (let i = 1; i < tokens; i++) chunks.push(` w${i}`);
  return chunks;
}

/** Rough token count (chars/4, at least 1) used for the simulator's reported input usage. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** The tool call the `fault=tool_call` stream emits, as JSON argument fragments. */
export const SIM_TOOL = { id: "toolu_sim_1", name: "get_weather", argChunks: ['{"city":', ' "Paris"', "}"] };
