/**
 * The upstream simulator's model names (src/dev/upstream-sim.ts): the bare model, its per-request
 * options after `@` (`sim@tokens=3,rate=20`) merged with the header `x-sim-options` (same syntax;
 * its keys win), and which names it refuses. Here in shared/ because two owners read them: the
 * simulator answering a request, and `pipbot demo`, which refuses a `--model` the simulator would
 * refuse before it starts anything. See docs/AI-SERVER.md for what each option does.
 */

/** Every option key the simulator takes (anything else is its 400). */
export const SIM_OPTION_KEYS = [
  "tokens",
  "rate",
  "latency",
  "ttft",
  "status",
  "retry_after",
  "retry_after_ms",
  "should_retry",
  "fail_times",
  "key",
  "fault",
  "cache_read",
  "cache_write",
  "thoughts",
  "tool_calls",
  "reasoning_text",
] as const;

export type SimFault =
  | { kind: "none" }
  | { kind: "error_after"; n: number }
  | { kind: "cut_after"; n: number }
  | { kind: "gap"; ms: number }
  | { kind: "tool_call" };

export interface SimOptions {
  tokens: number;
  /** Chunks per second; 0 = no delay. */
  rate: number;
  latencyMs: number;
  ttftMs: number;
  status?: number;
  retryAfterS?: number;
  retryAfterMs?: number;
  /** `x-should-retry` header on an error response ("true"/"false"). */
  shouldRetry?: string;
  failTimes?: number;
  key?: string;
  fault: SimFault;
  /** Extra usage to report (cache / reasoning), for accounting tests. */
  cacheRead: number;
  cacheWrite: number;
  thoughts: number;
  /** Tool calls made when tools are offered (parallel calls). */
  toolCalls: number;
  /** OpenAI wire: stream reasoning text as `reasoning_content` (like DeepSeek, vLLM, Ollama). */
  reasoningText: boolean;
  /** The raw option string, for logs. */
  raw: string;
}

export class SimOptionError extends Error {}

/** Split `sim@a=1,b=2` into the bare model and its option string. */
export function splitSimModel(model: string): { model: string; options: string } {
  const i = model.indexOf("@");
  return i < 0 ? { model, options: "" } : { model: model.slice(0, i), options: model.slice(i + 1) };
}

function parsePairs(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of s.split(",")) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf("=");
    if (eq <= 0) throw new SimOptionError(`simulator option "${p}" must be key=value`);
    out.set(p.slice(0, eq).trim(), p.slice(eq + 1).trim());
  }
  return out;
}

function int(key: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new SimOptionError(`simulator option ${key}=${v} must be a non-negative number`);
  return n;
}

function parseFault(v: string): SimFault {
  const [kind, arg = ""] = v.split(":", 2) as [string, string?];
  if (kind === "tool_call") return { kind: "tool_call" };
  if (kind === "error_after") return { kind, n: int("fault=error_after", arg) };
  if (kind === "cut_after") return { kind, n: int("fault=cut_after", arg) };
  if (kind === "gap") return { kind, ms: int("fault=gap", arg) };
  throw new SimOptionError(
    `unknown simulator fault "${v}" (error_after:<n>, cut_after:<n>, gap:<ms>, tool_call)`,
  );
}

/** Merge model options and header options (header wins) into SimOptions. */
export function parseSimOptions(fromModel: string, fromHeader: string | null): SimOptions {
  const pairs = parsePairs(fromModel);
  if (fromHeader) for (const [k, v] of parsePairs(fromHeader)) pairs.set(k, v);
  const o: SimOptions = {
    tokens: 12,
    rate: 0,
    latencyMs: 0,
    ttftMs: 0,
    fault: { kind: "none" },
    cacheRead: 0,
    cacheWrite: 0,
    thoughts: 0,
    toolCalls: 1,
    reasoningText: false,
    raw: [...pairs].map(([k, v]) => `${k}=${v}`).join(","),
  };
  for (const [k, v] of pairs) {
    switch (k) {
      case "tokens":
        o.tokens = Math.max(1, Math.floor(int(k, v)));
        break;
      case "rate":
        o.rate = int(k, v);
        break;
      case "latency":
        o.latencyMs = int(k, v);
        break;
      case "ttft":
        o.ttftMs = int(k, v);
        break;
      case "status":
        o.status = int(k, v);
        break;
      case "retry_after":
        o.retryAfterS = int(k, v);
        break;
      case "retry_after_ms":
        o.retryAfterMs = int(k, v);
        break;
      case "should_retry":
        o.shouldRetry = v;
        break;
      case "fail_times":
        o.failTimes = int(k, v);
        break;
      case "key":
        o.key = v;
        break;
      case "fault":
        o.fault = parseFault(v);
        break;
      case "cache_read":
        o.cacheRead = int(k, v);
        break;
      case "cache_write":
        o.cacheWrite = int(k, v);
        break;
      case "thoughts":
        o.thoughts = int(k, v);
        break;
      case "tool_calls":
        o.toolCalls = Math.max(1, Math.floor(int(k, v)));
        break;
      case "reasoning_text":
        o.reasoningText = v === "1" || v === "true";
        break;
      default:
        throw new SimOptionError(`unknown simulator option "${k}" (one of ${SIM_OPTION_KEYS.join(", ")})`);
    }
  }
  return o;
}

/**
 * Model ids the simulator answers as the provider answers an unknown model (404), for tests of
 * that path: those starting with one of these. Every other id is served.
 */
export const UNKNOWN_SIM_MODEL_PREFIXES = ["unknown", "missing"] as const;
export const UNKNOWN_SIM_MODEL = new RegExp(`^(${UNKNOWN_SIM_MODEL_PREFIXES.join("|")})`);

/**
 * Why the simulator refuses every request for `model` (an upstream model id, options after `@`;
 * Gemini's `models/` prefix allowed), or undefined when it serves it: `unknown_model` (its 404)
 * or `bad_option` (its 400, the option error's text).
 */
export function simModelRefusal(
  model: string,
): { kind: "unknown_model"; model: string } | { kind: "bad_option"; message: string } | undefined {
  const { model: bare, options } = splitSimModel(model.replace(/^models\//, ""));
  try {
    parseSimOptions(options, null);
  } catch (e) {
    if (e instanceof SimOptionError) return { kind: "bad_option", message: e.message };
    throw e;
  }
  return UNKNOWN_SIM_MODEL.test(bare) ? { kind: "unknown_model", model: bare } : undefined;
}
