/** Upstream simulator: the Gemini wire format (`/{v1,v1beta}/models/{model}:generateContent|:streamGenerateContent`). */
import { fullText, type SimPlan, type SimWire, sse, toolCalls } from "./sim-wire.ts";

const STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

function usageMetadata(plan: SimPlan, output: number) {
  const u: Record<string, number> = {
    promptTokenCount: plan.inputTokens,
    candidatesTokenCount: output,
    totalTokenCount: plan.inputTokens + output + plan.thoughts,
  };
  if (plan.thoughts > 0) u.thoughtsTokenCount = plan.thoughts;
  if (plan.opts.cacheRead > 0) u.cachedContentTokenCount = plan.opts.cacheRead;
  return u;
}

const finishReason = (plan: SimPlan) => (plan.truncated ? "MAX_TOKENS" : "STOP");

function response(plan: SimPlan, parts: unknown[], output: number, finish?: string) {
  const candidate: Record<string, unknown> = { content: { role: "model", parts }, index: 0 };
  if (finish) candidate.finishReason = finish;
  return {
    candidates: [candidate],
    usageMetadata: usageMetadata(plan, output),
    modelVersion: plan.model,
    responseId: plan.id,
  };
}

/** Gemini sends each function call whole (no id on the Gemini API), with its thought signature. */
const functionCall = (c: { name: string; json: string; id: string; signature?: string }) => ({
  functionCall: { name: c.name, args: JSON.parse(c.json || "{}") },
  thoughtSignature: c.signature ?? `tsig_${c.id}`,
});

export const googleWire: SimWire = {
  provider: "google",
  requestIdHeader: "x-goog-request-id",
  json(plan) {
    const parts: unknown[] = [];
    const thought = plan.parts.map((p) => (p.kind === "reasoning" ? p.text : "")).join("");
    if (thought) parts.push({ text: thought, thought: true });
    const text = fullText(plan);
    if (text || !plan.tool) parts.push({ text });
    for (const c of toolCalls(plan)) parts.push(functionCall(c));
    return response(plan, parts, plan.parts.length, finishReason(plan));
  },
  pre() {
    return "";
  },
  part(plan, i) {
    const p = plan.parts[i];
    if (!p) return "";
    if (p.kind === "reasoning") return sse(response(plan, [{ text: p.text, thought: true }], i + 1));
    if (p.kind === "text") return sse(response(plan, [{ text: p.text }], i + 1));
    if (!p.last) return "";
    const c = toolCalls(plan).find((x) => x.call === p.call);
    return c ? sse(response(plan, [functionCall(c)], i + 1)) : "";
  },
  post(plan) {
    return sse(response(plan, [{ text: "" }], plan.parts.length, finishReason(plan)));
  },
  errorFrame() {
    return sse({
      error: {
        code: 503,
        message: "The model is overloaded. Please try again later.",
        status: "UNAVAILABLE",
      },
    });
  },
  error(status, message, retryAfterMs) {
    return {
      status,
      body: {
        error: {
          code: status,
          message,
          status: STATUS[status] ?? (status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT"),
          // The Gemini API's retry hint: google.rpc.RetryInfo in the body, never a header.
          ...(retryAfterMs !== undefined
            ? {
                details: [
                  {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    retryDelay: `${retryAfterMs / 1000}s`,
                  },
                ],
              }
            : {}),
        },
      },
    };
  },
};
