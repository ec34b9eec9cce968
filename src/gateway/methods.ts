/**
 * The method table: every request method the gateway answers after the handshake, with its params
 * schema. Anything not in the table is `unknown method`. `hello-ok.features.methods` is exactly
 * the keys of this table.
 */

import { z } from "zod";
import { PipbotError } from "../shared/errors.ts";
import type { Store } from "../shared/store/index.ts";
import type { AiClient } from "./ai-client.ts";
import type { AiAvailability } from "./ai-wait.ts";
import { parseAttachments } from "./attachments.ts";
import type { ChatRuns } from "./chat.ts";
import type { Connection } from "./connection.ts";
import { CHAT_STARTUP_METHODS } from "./methods/chat-startup.ts";
import { PANEL_METHODS, type PanelDeps, refusalOf } from "./methods/index.ts";
import { MODEL_METHODS } from "./methods/models.ts";
import { SESSION_CHANGE_METHODS } from "./methods/session-changes.ts";
import { SESSION_METHODS } from "./methods/sessions.ts";
import type { ModelCatalog } from "./model-catalog.ts";
import { describeZodError, invalidRequest } from "./protocol.ts";
import type { SessionEvents } from "./session-events.ts";
import { checkSessionKey } from "./session-keys.ts";
import { historyPayload } from "./stored-messages.ts";
import { historyPayload4, inputReceipts } from "./wire4.ts";

export interface MethodContext {
  runs: ChatRuns;
  store: Store;
  ai: AiClient;
  /** GET the sync worker's /status (short timeout). */
  syncStatus: () => Promise<{ ok: true; body: unknown } | { ok: false; error: string }>;
  version: string;
  startedAt: number;
  connections: () => number;
  model: string | undefined;
  aiAvailability: AiAvailability;
  now: () => number;
  /** The AI server's models (models.list, sessions.patch model checks). */
  models: ModelCatalog;
  /** Protocol-4 session subscriptions' events. */
  events: SessionEvents;
  historyMaxBytes: number;
  /** What the owner panels read (methods/). */
  panels: PanelDeps;
}

/** A method handler; `conn` is the calling connection (subscriptions need it). */
type Handler = (ctx: MethodContext, params: unknown, conn?: Connection) => unknown | Promise<unknown>;

/** Keep chat.history JSON under this many bytes (the oldest messages are dropped). */
export const HISTORY_MAX_BYTES = 6 * 1024 * 1024;

const sendParams = z.looseObject({
  sessionKey: z.string().min(1).max(512),
  message: z.string(),
  idempotencyKey: z.string().min(1).max(256),
  timeoutMs: z.number().int().min(0).optional(),
  attachments: z.array(z.unknown()).optional(),
});
const historyParams = z.looseObject({
  sessionKey: z.string().min(1),
  limit: z.number().int().min(1).max(1000).optional(),
  maxBytes: z.number().int().min(1).optional(),
  inputRunIds: z.array(z.string().min(1).max(256)).max(50).optional(),
});
const abortParams = z.looseObject({ sessionKey: z.string().min(1), runId: z.string().min(1).optional() });

function parse<T extends z.ZodType>(method: string, schema: T, params: unknown): z.infer<T> {
  const r = schema.safeParse(params ?? {});
  if (!r.success) throw invalidRequest(`invalid ${method} params: ${describeZodError(r.error)}`);
  return r.data;
}

const chatSend: Handler = (ctx, raw) => {
  const p = parse("chat.send", sendParams, raw);
  const attachments = p.attachments && p.attachments.length > 0 ? parseAttachments(p.attachments) : [];
  if (p.message.trim() === "" && attachments.length === 0)
    throw invalidRequest("message or attachment required");
  checkSessionKey(p.sessionKey);
  // Events echo the key as the client spelled it (protocol-3 clients match on it).
  const sessionKey = p.sessionKey;
  if (p.message.trim() === "/stop") return ctx.runs.abort(sessionKey, undefined, "stop");
  const result = ctx.runs.send({
    sessionKey,
    message: p.message,
    idempotencyKey: p.idempotencyKey,
    timeoutMs: p.timeoutMs,
    ...(attachments.length > 0 ? { attachments } : {}),
  });
  if (result.status === "started") announceUserMessage(ctx, result.runId);
  return result;
};

/** Tell protocol-4 subscribers about the user message a new run stored. */
function announceUserMessage(ctx: MethodContext, runId: string): void {
  const run = ctx.store.getRun(runId);
  const msg = run?.userMessageId ? ctx.store.getMessage(run.userMessageId) : null;
  const session = run ? ctx.store.findSessionById(run.sessionId) : null;
  if (!msg || !session) return;
  ctx.events.message(session.key, msg, { runId });
  ctx.events.changed(session.key, "message", { phase: "message", messageId: msg.id, status: "running" });
}

const chatHistory: Handler = (ctx, raw, conn) => {
  const p = parse("chat.history", historyParams, raw);
  const session = ctx.store.findSession(checkSessionKey(p.sessionKey));
  if (conn?.protocol === 4) {
    const maxBytes = Math.min(HISTORY_MAX_BYTES, p.maxBytes ?? HISTORY_MAX_BYTES);
    return {
      sessionKey: p.sessionKey,
      sessionId: session?.id ?? null,
      messages: session
        ? historyPayload4(ctx.store.listMessages(session.id, p.limit ?? 200), maxBytes, ctx.store)
        : [],
      pendingInputs: { items: [], total: 0 },
      ...(p.inputRunIds ? inputReceipts(ctx.store, session?.id, p.inputRunIds) : {}),
    };
  }
  if (!session) return { sessionKey: p.sessionKey, sessionId: null, messages: [] };
  const stored = ctx.store.listMessages(session.id, p.limit ?? 200);
  return {
    sessionKey: p.sessionKey,
    sessionId: session.id,
    messages: historyPayload(stored, HISTORY_MAX_BYTES),
  };
};

const chatAbort: Handler = (ctx, raw) => {
  const p = parse("chat.abort", abortParams, raw);
  return ctx.runs.abort(p.sessionKey, p.runId, "rpc");
};

export const METHODS: Record<string, Handler> = {
  "chat.send": chatSend,
  "chat.history": chatHistory,
  "chat.abort": chatAbort,
  "agents.list": async (ctx) => {
    // The model the agent runs on: the composer needs it (no primary model = "no provider").
    const r = await ctx.models.list();
    const primary = (r.ok ? r.defaultModel : undefined) ?? ctx.model;
    return {
      defaultId: "main",
      mainKey: "main",
      scope: "per-sender",
      agents: [{ id: "main", name: "pipbot", ...(primary ? { model: { primary } } : {}) }],
    };
  },
  ...SESSION_METHODS,
  ...SESSION_CHANGE_METHODS,
  ...CHAT_STARTUP_METHODS,
  ...MODEL_METHODS,
  "node.list": () => ({ nodes: [] }),
  "device.pair.list": () => ({ pending: [], paired: [] }),
  ...PANEL_METHODS,
};

export const METHOD_NAMES = Object.keys(METHODS);
export const EVENT_NAMES = [
  "connect.challenge",
  "chat",
  "tick",
  "shutdown",
  "session.message",
  "sessions.changed",
  "chat.metadata.changed",
];

/** Run one method; unknown names and thrown errors become PipbotErrors. */
export async function callMethod(
  ctx: MethodContext,
  method: string,
  params: unknown,
  conn?: Connection,
): Promise<unknown> {
  const handler = Object.hasOwn(METHODS, method) ? METHODS[method] : undefined;
  if (method === "connect") throw invalidRequest("invalid request: already connected");
  if (!handler) throw refusalOf(method) ?? invalidRequest(`unknown method: ${method.slice(0, 100)}`);
  try {
    return await handler(ctx, params, conn);
  } catch (e) {
    if (e instanceof PipbotError) throw e;
    throw new PipbotError("unavailable", `${method} failed: ${e instanceof Error ? e.message : String(e)}`, {
      retryable: true,
    });
  }
}
