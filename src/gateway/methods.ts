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
import type { ChatRuns } from "./chat.ts";
import { PANEL_METHODS, type PanelDeps, refusalOf } from "./methods/index.ts";
import { describeZodError, invalidRequest } from "./protocol.ts";
import { historyPayload } from "./stored-messages.ts";

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
  /** What the owner panels read (methods/). */
  panels: PanelDeps;
}

type Handler = (ctx: MethodContext, params: unknown) => unknown | Promise<unknown>;

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
});
const abortParams = z.looseObject({ sessionKey: z.string().min(1), runId: z.string().min(1).optional() });

function parse<T extends z.ZodType>(method: string, schema: T, params: unknown): z.infer<T> {
  const r = schema.safeParse(params ?? {});
  if (!r.success) throw invalidRequest(`invalid ${method} params: ${describeZodError(r.error)}`);
  return r.data;
}

const chatSend: Handler = (ctx, raw) => {
  const p = parse("chat.send", sendParams, raw);
  if (p.message.trim() === "") {
    if (p.attachments && p.attachments.length > 0)
      throw invalidRequest("attachments are not supported by this gateway");
    throw invalidRequest("message or attachment required");
  }
  if (p.message.trim() === "/stop") return ctx.runs.abort(p.sessionKey, undefined, "stop");
  return ctx.runs.send({
    sessionKey: p.sessionKey,
    message: p.message,
    idempotencyKey: p.idempotencyKey,
    timeoutMs: p.timeoutMs,
  });
};

const chatHistory: Handler = (ctx, raw) => {
  const p = parse("chat.history", historyParams, raw);
  const session = ctx.store.findSession(p.sessionKey);
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

const sessionsList: Handler = (ctx) => {
  const sessions = ctx.store.listSessions(200).map((s) => ({
    key: s.key,
    sessionId: s.id,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  }));
  return { ts: ctx.now(), count: sessions.length, sessions };
};

export const METHODS: Record<string, Handler> = {
  "chat.send": chatSend,
  "chat.history": chatHistory,
  "chat.abort": chatAbort,
  "agents.list": () => ({
    defaultId: "main",
    mainKey: "main",
    scope: "per-sender",
    agents: [{ id: "main" }],
  }),
  "sessions.list": sessionsList,
  "node.list": () => ({ nodes: [] }),
  "device.pair.list": () => ({ pending: [], paired: [] }),
  ...PANEL_METHODS,
};

export const METHOD_NAMES = Object.keys(METHODS);
export const EVENT_NAMES = ["connect.challenge", "chat", "tick", "shutdown"];

/** Run one method; unknown names and thrown errors become PipbotErrors. */
export async function callMethod(ctx: MethodContext, method: string, params: unknown): Promise<unknown> {
  const handler = Object.hasOwn(METHODS, method) ? METHODS[method] : undefined;
  if (method === "connect") throw invalidRequest("invalid request: already connected");
  if (!handler) throw refusalOf(method) ?? invalidRequest(`unknown method: ${method.slice(0, 100)}`);
  try {
    return await handler(ctx, params);
  } catch (e) {
    if (e instanceof PipbotError) throw e;
    throw new PipbotError("unavailable", `${method} failed: ${e instanceof Error ? e.message : String(e)}`, {
      retryable: true,
    });
  }
}
