/**
 * A chat request's usage as the engine reports it: the upstream's numbers when its stream
 * completed, estimated from characters when it was interrupted before its final usage arrived.
 */
import type { ChatUsage } from "../shared/chat-api.ts";
import type { CallInput, UsagePatch } from "./providers/index.ts";

const estimate = (chars: number) => Math.ceil(chars / 4);

/**
 * The usage of the last attempt: what the upstream reported, and where an interrupted stream never
 * sent its final usage, an estimate (characters / 4) of what is missing (`estimated: true`).
 */
export function finalUsage(
  patch: UsagePatch,
  complete: boolean,
  inputChars: number,
  outputChars: number,
): ChatUsage {
  const u: ChatUsage = {
    inputTokens: patch.inputTokens ?? 0,
    outputTokens: patch.outputTokens ?? 0,
    cacheReadTokens: patch.cacheReadTokens ?? 0,
    cacheWriteTokens: patch.cacheWriteTokens ?? 0,
    reasoningTokens: patch.reasoningTokens ?? 0,
  };
  if (!complete) {
    // Interrupted: the upstream's final (cumulative) usage never came. Estimate what is missing.
    if (patch.inputTokens === undefined && inputChars > 0) {
      u.inputTokens = estimate(inputChars);
      u.estimated = true;
    }
    const est = estimate(outputChars);
    if (est > u.outputTokens) {
      u.outputTokens = est;
      u.estimated = true;
    }
  }
  return u;
}

/** Characters of the call's input, for an estimate when the upstream never reports usage. */
export function inputCharsOf(call: CallInput): number {
  let n = 0;
  for (const s of call.system ?? []) n += s.text.length;
  for (const m of call.messages)
    for (const p of m.content)
      if (p.type === "text" || p.type === "reasoning") n += p.text.length;
      else if (p.type === "tool_result") n += typeof p.content === "string" ? p.content.length : 0;
  return n;
}
