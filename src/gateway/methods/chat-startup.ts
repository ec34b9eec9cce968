/**
 * `chat.startup` (what the protocol-4 chat view loads first: history + the session's row + the
 * defaults, and it subscribes the connection to session events as OpenClaw does) and
 * `chat.metadata` (what the composer offers: the models and the session's model).
 */
import { z } from "zod";
import type { Connection } from "../connection.ts";
import type { MethodContext } from "../methods.ts";
import { checkSessionKey, displayKey, MAIN_SESSION_KEY } from "../session-keys.ts";
import { sessionDefaults, sessionRow } from "../session-rows.ts";
import { historyPayload4 } from "../wire4.ts";
import { parseParams } from "./params.ts";
import { rowOptions } from "./sessions.ts";

const startupParams = z.looseObject({
  sessionKey: z.string().min(1).optional(),
  agentId: z.string().optional(),
  limit: z.number().int().min(1).max(1000).optional(),
  maxBytes: z.number().int().min(1).optional(),
});
const metadataParams = z.looseObject({
  sessionKey: z.string().min(1).optional(),
  agentId: z.string().optional(),
});

export const CHAT_STARTUP_METHODS = {
  "chat.startup": async (ctx: MethodContext, raw: unknown, conn?: Connection) => {
    const p = parseParams("chat.startup", startupParams, raw);
    await ctx.models.list();
    if (conn) conn.subs.sessions = true;
    const key = checkSessionKey(p.sessionKey ?? MAIN_SESSION_KEY);
    const s = ctx.store.findSession(key);
    const maxBytes = Math.min(ctx.historyMaxBytes, p.maxBytes ?? ctx.historyMaxBytes);
    const messages = s
      ? historyPayload4(ctx.store.listMessages(s.id, p.limit ?? 200), maxBytes, ctx.store)
      : [];
    return {
      sessionKey: displayKey(key),
      sessionId: s?.id ?? null,
      messages,
      pendingInputs: { items: [], total: 0 },
      defaults: sessionDefaults(ctx.model ?? ctx.models.lastDefault()),
      ...(s ? { sessionInfo: sessionRow(ctx.store, s, rowOptions(ctx, s)) } : {}),
      thinkingLevel: "off",
      ...(p.sessionKey === undefined
        ? { resolution: { ok: true, key: displayKey(key), agentId: "main" } }
        : {}),
    };
  },
  "chat.metadata": async (ctx: MethodContext, raw: unknown) => {
    const p = parseParams("chat.metadata", metadataParams, raw);
    const s = p.sessionKey ? ctx.store.findSession(checkSessionKey(p.sessionKey)) : null;
    const r = await ctx.models.list();
    const models = r.ok
      ? r.models.map((m) => ({ id: m.id, provider: m.provider, default: m.isDefault }))
      : [];
    return {
      agentId: "main",
      ...(p.sessionKey ? { sessionKey: displayKey(checkSessionKey(p.sessionKey)) } : {}),
      model: s?.model ?? (r.ok ? r.defaultModel : ctx.model) ?? null,
      models,
      commands: [],
    };
  },
};
