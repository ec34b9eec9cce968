/**
 * How a stored session looks to protocol-4 clients: the `SessionRow` of protocol.schema.json
 * (sessions.list / describe / get, chat.startup's sessionInfo, sessions.changed) and the
 * `defaults` block (the default model; model selection applies to the session only).
 */
import type { Session, Store, StoredMessage } from "../shared/store/index.ts";
import { AGENT_ID, displayKey, MAIN_SESSION_KEY } from "./session-keys.ts";
import { messageText } from "./stored-messages.ts";

export interface SessionRow {
  key: string;
  kind: "direct";
  sessionId: string;
  agentId: string;
  chatType: "direct";
  isMain: boolean;
  label?: string;
  displayName?: string;
  derivedTitle?: string;
  lastMessagePreview?: string;
  createdAt: number;
  updatedAt: number;
  lastActivityAt: number;
  status?: "running" | "done" | "failed" | "killed";
  lastRunId?: string;
  model?: string;
  modelProvider?: string;
  modelOverrideSource?: string;
}

/** `provider/model` → its parts (a bare id has no provider). */
export function splitModelId(id: string): { provider?: string; model: string } {
  const i = id.indexOf("/");
  return i > 0 ? { provider: id.slice(0, i), model: id.slice(i + 1) } : { model: id };
}

const PREVIEW_CHARS = 160;

function oneLine(text: string, max: number): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export interface RowOptions {
  defaultModel?: string | undefined;
  /** Run ids of this session that are still streaming. */
  activeRunIds?: string[];
  includeDerivedTitle?: boolean;
  includeLastMessage?: boolean;
}

export function sessionRow(store: Store, s: Session, o: RowOptions = {}): SessionRow {
  const key = displayKey(s.key);
  const row: SessionRow = {
    key,
    kind: "direct",
    sessionId: s.id,
    agentId: AGENT_ID,
    chatType: "direct",
    isMain: key === MAIN_SESSION_KEY,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    lastActivityAt: s.updatedAt,
  };
  if (s.label) {
    row.label = s.label;
    row.displayName = s.label;
  }
  const model = s.model ?? o.defaultModel;
  if (model) {
    const m = splitModelId(model);
    row.model = m.model;
    if (m.provider) row.modelProvider = m.provider;
    if (s.model) row.modelOverrideSource = "session";
  }
  if (o.includeDerivedTitle || o.includeLastMessage) {
    const recent: StoredMessage[] = store.listMessages(s.id, 50);
    const firstUser = o.includeDerivedTitle ? recent.find((m) => m.role === "user") : undefined;
    if (firstUser) row.derivedTitle = oneLine(messageText(firstUser), 60);
    const last = recent[recent.length - 1];
    if (o.includeLastMessage && last) row.lastMessagePreview = oneLine(messageText(last), PREVIEW_CHARS);
  }
  if (o.activeRunIds && o.activeRunIds.length > 0) {
    row.status = "running";
    row.lastRunId = o.activeRunIds[o.activeRunIds.length - 1] as string;
  }
  return row;
}

/** The `defaults` block of sessions.list and chat.startup. */
export function sessionDefaults(defaultModel: string | undefined): Record<string, unknown> {
  const m = defaultModel ? splitModelId(defaultModel) : undefined;
  return {
    ...(m?.provider ? { modelProvider: m.provider } : {}),
    ...(m ? { model: m.model } : {}),
    contextTokens: null,
    thinkingLevels: [{ id: "off", label: "off" }],
    thinkingOptions: ["off"],
    thinkingDefault: "off",
    modelSelectionTarget: "session",
  };
}
