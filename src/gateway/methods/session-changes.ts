/**
 * Protocol-4 session changes users make: create, patch (label and model), reset and delete, each
 * broadcast as `sessions.changed`. Result shapes follow protocol.schema.json (SessionsCreateResult,
 * …) and, where the schema leaves a result open, what the OpenClaw 2026.9 gateway answers.
 */
import { z } from "zod";
import type { MethodContext } from "../methods.ts";
import { invalidRequest } from "../protocol.ts";
import { checkSessionKey, displayKey } from "../session-keys.ts";
import { sessionRow } from "../session-rows.ts";
import { parseParams } from "./params.ts";
import { checkAgent, checkModel, type Handler, keyParams, rowOptions } from "./sessions.ts";

const createParams = z.looseObject({
  key: z.string().min(1).optional(),
  label: z.string().min(1).max(512).optional(),
  displayName: z.string().min(1).max(500).optional(),
  model: z.string().min(1).max(200).optional(),
  agentId: z.string().optional(),
});
const patchParams = keyParams.extend({
  label: z.string().min(1).max(512).nullable().optional(),
  model: z.string().min(1).max(200).nullable().optional(),
});
const resetParams = keyParams.extend({ reason: z.enum(["new", "reset"]).optional() });
const deleteParams = keyParams.extend({ deleteTranscript: z.boolean().optional() });

/** A label names one session: refused when another session (not `key`) holds it. */
function checkLabelFree(ctx: MethodContext, label: string, key: string): void {
  const holder = ctx.store.findSessionByLabel(label);
  if (holder && holder.key !== key) {
    throw invalidRequest(`label "${label.slice(0, 60)}" is already used by ${displayKey(holder.key)}`, {
      code: "LABEL_IN_USE",
    });
  }
}

const create: Handler = async (ctx, raw) => {
  const p = parseParams("sessions.create", createParams, raw);
  checkAgent(p.agentId);
  const key = checkSessionKey(p.key ?? `agent:main:chat-${crypto.randomUUID().slice(0, 8)}`, "key");
  const label = p.label ?? p.displayName;
  if (p.label !== undefined) checkLabelFree(ctx, p.label, key);
  const model = p.model !== undefined ? await checkModel(ctx, p.model) : undefined;
  const existing = ctx.store.findSession(key);
  const s = ctx.store.getOrCreateSession(key, {
    ...(label ? { label } : {}),
    ...(model ? { model } : {}),
  });
  const row = sessionRow(ctx.store, s, rowOptions(ctx, s));
  ctx.events.changed(s.key, existing ? "update" : "create", { session: row });
  return { ok: true, key: row.key, sessionId: s.id, entry: row };
};

const patch: Handler = async (ctx, raw) => {
  const p = parseParams("sessions.patch", patchParams, raw);
  checkAgent(p.agentId);
  const key = checkSessionKey(p.key, "key");
  const known = new Set(["key", "agentId", "label", "model", "expectedSessionId"]);
  const refused = Object.keys(p).filter((k) => !known.has(k));
  if (refused.length > 0) {
    throw invalidRequest(
      `sessions.patch: ${refused.slice(0, 5).join(", ")} not supported by this gateway (label and model are)`,
      { code: "NOT_SUPPORTED", fields: refused.slice(0, 20) },
    );
  }
  if (typeof p.label === "string") checkLabelFree(ctx, p.label, key);
  const model = typeof p.model === "string" ? await checkModel(ctx, p.model) : p.model;
  const s = ctx.store.patchSession(key, {
    ...(p.label !== undefined ? { label: p.label } : {}),
    ...(model !== undefined ? { model } : {}),
  });
  const row = sessionRow(ctx.store, s, rowOptions(ctx, s));
  ctx.events.changed(s.key, "patch", { session: row });
  return { ok: true, key: row.key, sessionId: s.id, entry: row };
};

/** Stops the session's running turns (reset and delete do this first), if it has any. */
function abortActiveRuns(ctx: MethodContext, key: string): void {
  const s = ctx.store.findSession(key);
  if (s && ctx.runs.activeRunIds(s.id).length > 0) ctx.runs.abort(key, undefined, "rpc");
}

const reset: Handler = (ctx, raw) => {
  const p = parseParams("sessions.reset", resetParams, raw);
  checkAgent(p.agentId);
  const key = checkSessionKey(p.key, "key");
  abortActiveRuns(ctx, key);
  const { current } = ctx.store.resetSession(key);
  const row = sessionRow(ctx.store, current, rowOptions(ctx, current));
  ctx.events.changed(current.key, p.reason ?? "reset", { session: row });
  return { ok: true, key: row.key, sessionId: current.id, entry: row };
};

const remove: Handler = (ctx, raw) => {
  const p = parseParams("sessions.delete", deleteParams, raw);
  checkAgent(p.agentId);
  const key = checkSessionKey(p.key, "key");
  abortActiveRuns(ctx, key);
  const deleted = ctx.store.deleteSession(key);
  if (deleted) ctx.events.changed(deleted.key, "delete");
  return { ok: true, key: displayKey(key), deleted: deleted !== null, archived: [] };
};

export const SESSION_CHANGE_METHODS: Record<string, Handler> = {
  "sessions.create": create,
  "sessions.patch": patch,
  "sessions.reset": reset,
  "sessions.delete": remove,
};
