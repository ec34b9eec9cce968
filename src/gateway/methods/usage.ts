/**
 * The usage panels: `usage.cost` (tokens and estimated cost per day), `sessions.usage` (per
 * session, model and provider, in OpenClaw's SessionsUsageResult shape) and `usage.status`
 * (provider quota windows: pipbot has none, billing happens in the platform's usage proxy).
 *
 * Source: the store's usage table (one row per AI server request, written by the AI server; its
 * `conversation_id` is the gateway's session id). Requests made through the AI server's API
 * without a chat session are shown as one "AI server API" entry. Costs are estimates from the one
 * price table in src/shared/prices.ts; a model it does not know counts as `missingCostEntries`,
 * never as $0.
 */
import { z } from "zod";
import { type MethodHandler, parseParams } from "./types.ts";
import { add, emptyTotals, rangeOf, rangeParams, type Totals, totalsOf } from "./usage-totals.ts";

const rangeSchema = z.looseObject(rangeParams);

export const usageCost: MethodHandler = (ctx, raw) => {
  const r = rangeOf(parseParams("usage.cost", rangeSchema, raw), ctx.now());
  const daily = new Map<string, Totals>();
  const totals = emptyTotals();
  for (const g of ctx.store.usageGroups(r.startMs, r.endMs, r.offsetMs)) {
    const t = totalsOf(g);
    const day = daily.get(g.day) ?? emptyTotals();
    daily.set(g.day, add(day, t));
    add(totals, t);
  }
  return {
    updatedAt: ctx.now(),
    days: r.days,
    daily: [...daily].map(([d, t]) => ({ date: d, ...t })),
    totals,
  };
};

/** pipbot has no provider quota windows to show (the platform bills usage), so none are listed. */
export const usageStatus: MethodHandler = (ctx) => ({ updatedAt: ctx.now(), providers: [] });

const sessionsUsageSchema = z.looseObject({
  ...rangeParams,
  key: z.string().min(1).optional(),
  agentId: z.string().min(1).optional(),
  limit: z.number().int().min(1).optional(),
});

/** The usage entry of AI server requests made without a chat session. */
export const API_KEY = "pipbot:ai-server-api";

interface SessionAcc {
  key: string;
  label?: string;
  sessionId?: string;
  updatedAt: number;
  totals: Totals;
  requests: number;
  failed: number;
  first: number;
  last: number;
  models: Map<string, { provider: string; model: string; count: number; totals: Totals }>;
  daily: Map<string, { totals: Totals; count: number; failed: number }>;
  dailyModels: Map<
    string,
    { date: string; provider: string; model: string; tokens: number; cost: number; count: number }
  >;
}

export const sessionsUsage: MethodHandler = (ctx, raw) => {
  const p = parseParams("sessions.usage", sessionsUsageSchema, raw);
  const r = rangeOf(p, ctx.now());
  const byId = new Map(ctx.store.listSessions(100_000).map((s) => [s.id, s]));
  const wanted = p.key ? ctx.store.findSession(p.key) : null;
  const accs = new Map<string, SessionAcc>();
  // Only the agent "main" exists here: another agent has no sessions.
  const groups =
    p.agentId && p.agentId !== "main" ? [] : ctx.store.usageGroups(r.startMs, r.endMs, r.offsetMs);
  for (const g of groups) {
    const session = g.conversationId ? byId.get(g.conversationId) : undefined;
    if (p.key && (!wanted || session?.id !== wanted.id)) continue;
    const key = session?.key ?? API_KEY;
    let a = accs.get(key);
    if (!a) {
      a = {
        key,
        ...(session ? { sessionId: session.id } : { label: "AI server API (no chat session)" }),
        updatedAt: session?.updatedAt ?? g.lastAt,
        totals: emptyTotals(),
        requests: 0,
        failed: 0,
        first: g.firstAt,
        last: g.lastAt,
        models: new Map(),
        daily: new Map(),
        dailyModels: new Map(),
      };
      accs.set(key, a);
    }
    const t = totalsOf(g);
    add(a.totals, t);
    a.requests += g.requests;
    a.failed += g.failedRequests;
    a.first = Math.min(a.first, g.firstAt);
    a.last = Math.max(a.last, g.lastAt);
    const mk = `${g.provider}/${g.model}`;
    const m = a.models.get(mk) ?? { provider: g.provider, model: g.model, count: 0, totals: emptyTotals() };
    m.count += g.requests;
    add(m.totals, t);
    a.models.set(mk, m);
    const d = a.daily.get(g.day) ?? { totals: emptyTotals(), count: 0, failed: 0 };
    add(d.totals, t);
    d.count += g.requests;
    d.failed += g.failedRequests;
    a.daily.set(g.day, d);
    const dmk = `${g.day}|${mk}`;
    const dm = a.dailyModels.get(dmk) ?? {
      date: g.day,
      provider: g.provider,
      model: g.model,
      tokens: 0,
      cost: 0,
      count: 0,
    };
    dm.tokens += t.totalTokens;
    dm.cost += t.totalCost;
    dm.count += g.requests;
    a.dailyModels.set(dmk, dm);
  }
  const all = [...accs.values()].sort((x, y) => y.last - x.last);
  const limited = all.slice(0, p.limit ?? 50);
  const totals = emptyTotals();
  const byModel = new Map<string, { provider: string; model: string; count: number; totals: Totals }>();
  const byProvider = new Map<string, { provider: string; count: number; totals: Totals }>();
  const costDaily = new Map<string, Totals>();
  const daily = new Map<
    string,
    { date: string; tokens: number; cost: number; messages: number; toolCalls: number; errors: number }
  >();
  const modelDaily = new Map<
    string,
    { date: string; provider: string; model: string; tokens: number; cost: number; count: number }
  >();
  const messages = { total: 0, user: 0, assistant: 0, toolCalls: 0, toolResults: 0, errors: 0 };
  const sessions = limited.map((a) => {
    add(totals, a.totals);
    messages.assistant += a.requests;
    messages.total += a.requests;
    messages.errors += a.failed;
    for (const [k, m] of a.models) {
      const bm = byModel.get(k) ?? { provider: m.provider, model: m.model, count: 0, totals: emptyTotals() };
      bm.count += m.count;
      add(bm.totals, m.totals);
      byModel.set(k, bm);
      const bp = byProvider.get(m.provider) ?? { provider: m.provider, count: 0, totals: emptyTotals() };
      bp.count += m.count;
      add(bp.totals, m.totals);
      byProvider.set(m.provider, bp);
    }
    for (const [day, d] of a.daily) {
      const x = daily.get(day) ?? { date: day, tokens: 0, cost: 0, messages: 0, toolCalls: 0, errors: 0 };
      x.tokens += d.totals.totalTokens;
      x.cost += d.totals.totalCost;
      x.messages += d.count;
      x.errors += d.failed;
      daily.set(day, x);
      costDaily.set(day, add(costDaily.get(day) ?? emptyTotals(), d.totals));
    }
    for (const [k, dm] of a.dailyModels) {
      const x = modelDaily.get(k) ?? { ...dm, tokens: 0, cost: 0, count: 0 };
      x.tokens += dm.tokens;
      x.cost += dm.cost;
      x.count += dm.count;
      modelDaily.set(k, x);
    }
    const models = [...a.models.values()];
    const main = models.sort((x, y) => y.count - x.count)[0];
    return {
      key: a.key,
      ...(a.label ? { label: a.label } : {}),
      ...(a.sessionId ? { sessionId: a.sessionId } : {}),
      updatedAt: a.updatedAt,
      agentId: "main",
      ...(main ? { modelProvider: main.provider, model: main.model } : {}),
      usage: {
        ...a.totals,
        ...(a.sessionId ? { sessionId: a.sessionId } : {}),
        firstActivity: a.first,
        lastActivity: a.last,
        durationMs: Math.max(0, a.last - a.first),
        activityDates: [...a.daily.keys()].sort(),
        // Per day: the totals by token type too (the Control UI's daily "by type" chart reads them).
        dailyBreakdown: [...a.daily].map(([day, d]) => ({
          date: day,
          tokens: d.totals.totalTokens,
          cost: d.totals.totalCost,
          ...d.totals,
        })),
        dailyMessageCounts: [...a.daily].map(([day, d]) => ({
          date: day,
          total: d.count,
          user: 0,
          assistant: d.count,
          toolCalls: 0,
          toolResults: 0,
          errors: d.failed,
        })),
        dailyModelUsage: [...a.dailyModels.values()],
        messageCounts: {
          total: a.requests,
          user: 0,
          assistant: a.requests,
          toolCalls: 0,
          toolResults: 0,
          errors: a.failed,
        },
        modelUsage: models,
      },
    };
  });
  const byCost = (x: { totals: Totals }, y: { totals: Totals }) =>
    y.totals.totalCost - x.totals.totalCost || y.totals.totalTokens - x.totals.totalTokens;
  return {
    updatedAt: ctx.now(),
    startDate: r.startDate,
    endDate: r.endDate,
    sessions,
    totals,
    aggregates: {
      messages,
      tools: { totalCalls: 0, uniqueTools: 0, tools: [] },
      byModel: [...byModel.values()].sort(byCost),
      byProvider: [...byProvider.values()].sort(byCost),
      byAgent: sessions.length ? [{ agentId: "main", totals }] : [],
      byChannel: [],
      modelDaily: [...modelDaily.values()],
      // The usage page's daily chart and cost windows read this (tokens by type and cost per day).
      costDaily: [...costDaily]
        .map(([date, t]) => ({ date, ...t }))
        .sort((x, y) => x.date.localeCompare(y.date)),
      daily: [...daily.values()].sort((x, y) => x.date.localeCompare(y.date)),
    },
    // Read straight from the store: always complete and fresh (OpenClaw scans transcript files).
    cacheStatus: { status: "fresh", cachedFiles: 0, pendingFiles: 0, staleFiles: 0, refreshedAt: ctx.now() },
    overview: {
      matchedSessions: all.length,
      returnedSessions: sessions.length,
      durationCount: sessions.length,
      durationSumMs: limited.reduce((s, a) => s + Math.max(0, a.last - a.first), 0),
    },
  };
};
