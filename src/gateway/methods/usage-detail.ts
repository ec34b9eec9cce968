/**
 * The usage panel's drill-down into one session: `sessions.usage.timeseries` (its AI server
 * requests, newest 200, oldest first, each with its tokens by type and estimated cost) and
 * `sessions.usage.logs` (its messages from the store: role, text, and for a reply its tokens and
 * cost). The session is named by `key` as `sessions.usage` listed it; `pipbot:ai-server-api` is
 * the requests without a chat session (no messages).
 */
import { z } from "zod";
import { costOf, priceOf } from "../../shared/prices.ts";
import type { MethodContext } from "../methods.ts";
import { invalidRequest } from "../protocol.ts";
import { type MethodHandler, parseParams } from "./types.ts";
import { API_KEY } from "./usage.ts";
import { totalsOf } from "./usage-totals.ts";

const keyParams = z.looseObject({ key: z.string().min(1), limit: z.number().int().min(1).optional() });

/** The session id behind a usage key (null: the API entry); unknown keys are refused. */
function sessionOf(ctx: MethodContext, method: string, key: string): { id: string | null } {
  if (key === API_KEY) return { id: null };
  const s = ctx.store.findSession(key);
  if (!s) throw invalidRequest(`${method}: no session ${key.slice(0, 200)}`);
  return { id: s.id };
}

export const usageTimeseries: MethodHandler = (ctx, raw) => {
  const p = parseParams("sessions.usage.timeseries", keyParams, raw);
  const { id } = sessionOf(ctx, "sessions.usage.timeseries", p.key);
  const points = ctx.store.usageOfConversation(id, Math.min(p.limit ?? 200, 200)).map((r) => {
    const t = totalsOf(r);
    return {
      timestamp: r.ts,
      input: t.input,
      output: t.output,
      cacheRead: t.cacheRead,
      cacheWrite: t.cacheWrite,
      totalTokens: t.totalTokens,
      cost: t.totalCost,
      provider: r.provider,
      model: r.model,
    };
  });
  return { ...(id ? { sessionId: id } : {}), points };
};

export const usageLogs: MethodHandler = (ctx, raw) => {
  const p = parseParams("sessions.usage.logs", keyParams, raw);
  const { id } = sessionOf(ctx, "sessions.usage.logs", p.key);
  if (!id) return { logs: [] };
  const logs = ctx.store.listMessages(id, Math.min(p.limit ?? 200, 1000)).map((m) => {
    const text = m.content
      .map((b) => (b.type === "text" ? b.text : ""))
      .join("")
      .slice(0, 4000);
    const entry: Record<string, unknown> = { timestamp: m.createdAt, role: m.role, content: text };
    if (m.role === "assistant" && m.usage) {
      const u = m.usage;
      entry.tokens = u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens;
      const [provider, ...rest] = (m.model ?? "").split("/");
      const price = provider && rest.length ? priceOf(provider, rest.join("/")) : null;
      if (price) entry.cost = costOf(u, price).totalCost;
    }
    return entry;
  });
  return { logs };
};
