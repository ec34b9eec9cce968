/**
 * Protocol-4 session methods that read: list / describe / get / resolve / preview, and the
 * subscriptions (sessions.subscribe, sessions.messages.subscribe and their unsubscribes); the
 * checks every session method shares. The changes users make are session-changes.ts.
 * Result shapes follow protocol.schema.json (SessionRow, …) and, where the schema leaves a result
 * open, what the OpenClaw 2026.9 gateway answers.
 */
import { z } from "zod";
import { PipbotError } from "../../shared/errors.ts";
import type { Session } from "../../shared/store/index.ts";
import type { Connection } from "../connection.ts";
import type { MethodContext } from "../methods.ts";
import { invalidRequest } from "../protocol.ts";
import { MAX_MESSAGE_SUBSCRIPTIONS } from "../session-events.ts";
import { checkSessionKey, displayKey } from "../session-keys.ts";
import { type RowOptions, sessionDefaults, sessionRow } from "../session-rows.ts";
import { historyPayload4 } from "../wire4.ts";
import { parseParams } from "./params.ts";

export type Handler = (ctx: MethodContext, params: unknown, conn?: Connection) => unknown;

const listParams = z.looseObject({
  limit: z.number().int().min(1).optional(),
  offset: z.number().int().min(0).optional(),
  includeDerivedTitles: z.boolean().optional(),
  includeLastMessage: z.boolean().optional(),
  label: z.string().optional(),
  search: z.string().optional(),
  spawnedBy: z.string().optional(),
  agentId: z.string().optional(),
});
export const keyParams = z.looseObject({ key: z.string().min(1), agentId: z.string().optional() });
const describeParams = keyParams.extend({
  includeDerivedTitles: z.boolean().optional(),
  includeLastMessage: z.boolean().optional(),
});
const getParams = z.looseObject({
  key: z.string().min(1).optional(),
  sessionKey: z.string().min(1).optional(),
  limit: z.number().int().min(1).max(1000).optional(),
});
const resolveParams = z.looseObject({
  key: z.string().min(1).optional(),
  sessionId: z.string().min(1).optional(),
  label: z.string().min(1).max(512).optional(),
  allowMissing: z.boolean().optional(),
});
const previewParams = z.looseObject({
  keys: z.array(z.string().min(1)).min(1).max(64),
  limit: z.number().int().min(1).max(100).optional(),
  maxChars: z.number().int().min(20).max(10_000).optional(),
});
export function checkAgent(agentId: string | undefined): void {
  if (agentId !== undefined && agentId !== "main") {
    throw invalidRequest(`unknown agentId "${agentId.slice(0, 40)}": this gateway has one agent, "main"`, {
      code: "UNKNOWN_AGENT",
    });
  }
}

export function rowOptions(ctx: MethodContext, s: Session, extra: RowOptions = {}): RowOptions {
  return {
    defaultModel: ctx.model ?? ctx.models.lastDefault(),
    activeRunIds: ctx.runs.activeRunIds(s.id),
    ...extra,
  };
}

function requireConn(conn: Connection | undefined): Connection {
  if (!conn) throw new PipbotError("unavailable", "no connection for this subscription");
  return conn;
}

/** The model a session may use: one the AI server lists, else a clear error naming them. */
export async function checkModel(ctx: MethodContext, model: string): Promise<string> {
  const models = await ctx.models.list();
  if (!models.ok)
    throw new PipbotError("unavailable", `cannot check the model: ${models.error}`, { retryable: true });
  const ids = models.models.map((m) => m.id);
  const found = ids.find((id) => id === model) ?? ids.find((id) => id.endsWith(`/${model}`));
  if (!found) {
    throw invalidRequest(`unknown model "${model.slice(0, 100)}": this gateway offers ${ids.join(", ")}`, {
      code: "UNKNOWN_MODEL",
    });
  }
  return found;
}

const list: Handler = async (ctx, raw) => {
  const p = parseParams("sessions.list", listParams, raw);
  checkAgent(p.agentId);
  await ctx.models.list(); // the default model rows and defaults show (cached; a failure shows none)
  const limit = p.limit ?? 200;
  const offset = p.offset ?? 0;
  let sessions = ctx.store.listSessions(Math.min(10_000, limit + offset + 1));
  if (p.spawnedBy !== undefined) sessions = []; // no sub-agents here
  if (p.label !== undefined) sessions = sessions.filter((s) => s.label === p.label);
  const page = sessions.slice(offset, offset + limit);
  const rows = page.map((s) =>
    sessionRow(
      ctx.store,
      s,
      rowOptions(ctx, s, {
        includeDerivedTitle: p.includeDerivedTitles === true,
        includeLastMessage: p.includeLastMessage === true,
      }),
    ),
  );
  const search = p.search?.trim().toLowerCase();
  const filtered = search
    ? rows.filter((r) =>
        [r.key, r.label, r.derivedTitle, r.lastMessagePreview].some((v) => v?.toLowerCase().includes(search)),
      )
    : rows;
  const hasMore = sessions.length > offset + limit;
  return {
    ts: ctx.now(),
    count: filtered.length,
    totalCount: sessions.length,
    hasMore,
    ...(hasMore ? { nextOffset: offset + limit } : {}),
    defaults: sessionDefaults(ctx.model ?? ctx.models.lastDefault()),
    sessions: filtered,
  };
};

const describe: Handler = (ctx, raw) => {
  const p = parseParams("sessions.describe", describeParams, raw);
  checkAgent(p.agentId);
  const s = ctx.store.findSession(checkSessionKey(p.key, "key"));
  if (!s) return { session: null };
  return {
    session: sessionRow(
      ctx.store,
      s,
      rowOptions(ctx, s, {
        includeDerivedTitle: p.includeDerivedTitles === true,
        includeLastMessage: p.includeLastMessage === true,
      }),
    ),
  };
};

const get: Handler = (ctx, raw) => {
  const p = parseParams("sessions.get", getParams, raw);
  const key = p.key ?? p.sessionKey;
  if (!key) throw invalidRequest("invalid sessions.get params: key is required");
  const s = ctx.store.findSession(checkSessionKey(key, "key"));
  if (!s) return { messages: [] };
  return {
    messages: historyPayload4(ctx.store.listMessages(s.id, p.limit ?? 200), ctx.historyMaxBytes, ctx.store),
  };
};

const resolve: Handler = (ctx, raw) => {
  const p = parseParams("sessions.resolve", resolveParams, raw);
  let s: Session | null = null;
  if (p.key !== undefined) s = ctx.store.findSession(checkSessionKey(p.key, "key"));
  else if (p.sessionId !== undefined) {
    s = ctx.store.findSessionById(p.sessionId);
    if (s?.retiredAt !== undefined) s = null;
  } else if (p.label !== undefined) s = ctx.store.findSessionByLabel(p.label);
  else throw invalidRequest("invalid sessions.resolve params: give key, sessionId or label");
  if (!s) {
    if (p.allowMissing) return { ok: false };
    throw invalidRequest("session not found", { code: "SESSION_NOT_FOUND" });
  }
  return { ok: true, key: displayKey(s.key), agentId: "main", ...(s.label ? { displayName: s.label } : {}) };
};

const preview: Handler = (ctx, raw) => {
  const p = parseParams("sessions.preview", previewParams, raw);
  const limit = p.limit ?? 12;
  const maxChars = p.maxChars ?? 240;
  const previews = p.keys.map((key) => {
    const s = ctx.store.findSession(checkSessionKey(key, "keys[]"));
    if (!s) return { key, status: "missing", items: [] };
    const items = ctx.store.listMessages(s.id, limit).map((m) => {
      const text = m.content.map((b) => b.text).join("");
      return { role: m.role, text: text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text };
    });
    return { key, status: items.length > 0 ? "ok" : "empty", items };
  });
  return { ts: ctx.now(), previews };
};

const subscribe: Handler = async (ctx, raw, conn) => {
  const c = requireConn(conn);
  c.subs.sessions = true;
  if (raw === undefined || (typeof raw === "object" && raw !== null && Object.keys(raw).length === 0)) {
    return { subscribed: true };
  }
  return { subscribed: true, list: await list(ctx, raw, conn) };
};

const unsubscribe: Handler = (_ctx, _raw, conn) => {
  requireConn(conn).subs.sessions = false;
  return { subscribed: false };
};

const messagesSubscribe: Handler = (_ctx, raw, conn) => {
  const c = requireConn(conn);
  const p = parseParams("sessions.messages.subscribe", keyParams, raw);
  checkAgent(p.agentId);
  const key = checkSessionKey(p.key, "key");
  if (!c.subs.messages.has(key) && c.subs.messages.size >= MAX_MESSAGE_SUBSCRIPTIONS) {
    throw invalidRequest(
      `too many message subscriptions on this connection (limit ${MAX_MESSAGE_SUBSCRIPTIONS}): unsubscribe from a session first`,
      { code: "SUBSCRIPTION_LIMIT", limit: MAX_MESSAGE_SUBSCRIPTIONS },
    );
  }
  c.subs.messages.add(key);
  return { subscribed: true, key: displayKey(key) };
};

const messagesUnsubscribe: Handler = (_ctx, raw, conn) => {
  const c = requireConn(conn);
  const p = parseParams("sessions.messages.unsubscribe", keyParams, raw);
  const key = checkSessionKey(p.key, "key");
  c.subs.messages.delete(key);
  return { subscribed: false, key: displayKey(key) };
};

export const SESSION_METHODS: Record<string, Handler> = {
  "sessions.list": list,
  "sessions.describe": describe,
  "sessions.get": get,
  "sessions.resolve": resolve,
  "sessions.preview": preview,
  "sessions.subscribe": subscribe,
  "sessions.unsubscribe": unsubscribe,
  "sessions.messages.subscribe": messagesSubscribe,
  "sessions.messages.unsubscribe": messagesUnsubscribe,
};
