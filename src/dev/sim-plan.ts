/**
 * Upstream simulator: the deterministic reply for a request, as parts every wire renders.
 * - tool results in the last turn → text quoting them (`Tool get_weather returned …`);
 * - tools offered (and tool_choice not none) → a call of the named or first tool (`tool_calls=N`:
 *   N calls), its arguments sampled from the tool's JSON schema;
 * - JSON output asked for → a JSON object sampled from the schema (or `{"reply": …}`);
 * - otherwise `You said: <text>.` (+ ` I see <media>.`) then filler words;
 * - reasoning asked for → a thinking block first (`Thinking about: <text>`).
 */
import { estimateTokens, replyChunks, SIM_TOOL, type SimOptions } from "./sim-options.ts";
import { isObj, type SimRequest } from "./sim-request.ts";
import type { SimPart, SimPlan } from "./sim-wire.ts";

type Json = Record<string, unknown>;

/** A value that satisfies a (simple) JSON schema. */
export function sampleOf(schema: unknown, key = "value", user = ""): unknown {
  if (!isObj(schema)) return "sample";
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  if (schema.const !== undefined) return schema.const;
  const anyOf = (schema.anyOf ?? schema.oneOf) as unknown[] | undefined;
  if (Array.isArray(anyOf) && anyOf.length) return sampleOf(anyOf[0], key, user);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "object": {
      const props = isObj(schema.properties) ? schema.properties : {};
      const out: Json = {};
      for (const [k, v] of Object.entries(props)) out[k] = sampleOf(v, k, user);
      if (Object.keys(props).length === 0) out.reply = `You said: ${user}`;
      return out;
    }
    case "array":
      return [sampleOf(schema.items, key, user)];
    case "number":
      return 1.5;
    case "integer":
      return 2;
    case "boolean":
      return true;
    case "null":
      return null;
    default:
      return /city|location|place/i.test(key) ? "Paris" : `${key}-sample`;
  }
}

/** Split a string into n roughly equal pieces (at least one). */
function pieces(s: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(s.length / n));
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out.length ? out : [""];
}

export function buildPlan(r: SimRequest, opts: SimOptions, id: string): SimPlan {
  const parts: SimPart[] = [];
  let block = 0;
  if (r.thinking) {
    const texts = pieces(`Thinking about: ${r.lastUser || "the tool results"}`, 2);
    texts.forEach((text, i) => {
      parts.push({
        kind: "reasoning",
        text,
        block,
        first: i === 0,
        last: i === texts.length - 1,
        signature: `sig_${id}`,
      });
    });
    block++;
  }
  let truncated = false;
  let tool = false;
  const calls = r.toolChoice === "none" ? [] : r.tools;
  const forced = typeof r.toolChoice === "object" ? r.toolChoice.name : undefined;
  if (r.toolResults.length === 0 && calls.length > 0 && (!r.json || forced)) {
    tool = true;
    const chosen = forced ? calls.filter((t) => t.name === forced) : calls;
    const n = Math.max(1, Math.min(opts.toolCalls, 8));
    for (let c = 0; c < n; c++) {
      const t = chosen[c % chosen.length] ?? chosen[0];
      if (!t) break;
      const json = JSON.stringify(sampleOf({ type: "object", ...t.schema }, t.name, r.lastUser));
      const frags = pieces(json, 3);
      frags.forEach((f, i) => {
        parts.push({
          kind: "tool",
          call: c,
          id: `${id}_call${c}`,
          name: t.name,
          json: f,
          block,
          first: i === 0,
          last: i === frags.length - 1,
          signature: `tsig_${id}_${c}`,
        });
      });
      block++;
    }
  } else if (r.json) {
    const value = r.json.schema
      ? sampleOf({ type: "object", ...r.json.schema }, "reply", r.lastUser)
      : { reply: `You said: ${r.lastUser}` };
    for (const text of pieces(JSON.stringify(value), 3)) parts.push({ kind: "text", text, block });
    block++;
  } else {
    const first = r.toolResults.length
      ? r.toolResults.map((t) => `Tool ${t.name} returned ${t.content}.`).join(" ")
      : undefined;
    const chunks = replyChunks(r.lastUser, opts.tokens);
    if (first !== undefined) chunks[0] = first;
    if (r.media.length) chunks[0] += ` I see ${r.media.join("; ")}.`;
    let texts = chunks;
    if (r.maxTokens !== undefined && r.maxTokens > 0 && texts.length > r.maxTokens) {
      texts = texts.slice(0, r.maxTokens);
      truncated = true;
    }
    for (const text of texts) parts.push({ kind: "text", text, block });
    block++;
    if (opts.fault.kind === "tool_call") {
      // Legacy fault: text then one get_weather call whatever the request offered.
      parts.splice(parts.findIndex((p) => p.kind === "text") + 1);
      tool = true;
      const n = SIM_TOOL.argChunks.length;
      SIM_TOOL.argChunks.forEach((json, i) => {
        parts.push({
          kind: "tool",
          call: 0,
          id: SIM_TOOL.id,
          name: SIM_TOOL.name,
          json,
          block,
          first: i === 0,
          last: i === n - 1,
        });
      });
    }
  }
  return {
    id,
    model: r.model,
    parts,
    inputTokens: estimateTokens("x".repeat(r.inputChars)),
    truncated,
    tool,
    opts,
    includeUsage: r.includeUsage,
    thoughts: opts.thoughts || (r.thinking ? parts.filter((p) => p.kind === "reasoning").length * 4 : 0),
  };
}
