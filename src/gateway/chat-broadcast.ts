/**
 * Chat events to every open connection, each in its protocol's shape (protocol 3: the payload
 * without `errorKind`; protocol 4: wire4's event naming the stored reply), serialised once per
 * shape; deltas may be dropped for a slow client, terminal events never. When a run ends, the
 * protocol-4 session subscribers also get the stored reply (`session.message`) and the change.
 */
import type { PipbotLogger } from "../shared/log.ts";
import type { Store } from "../shared/store/index.ts";
import type { ChatEventPayload } from "./chat.ts";
import type { ConnectionRegistry } from "./connections.ts";
import type { SessionEvents } from "./session-events.ts";
import { chatEvent4 } from "./wire4.ts";

export interface ChatBroadcastDeps {
  conns: ConnectionRegistry;
  store: Store;
  events: SessionEvents;
  logger: PipbotLogger;
}

export function createChatBroadcast({
  conns,
  store,
  events,
  logger,
}: ChatBroadcastDeps): (p: ChatEventPayload) => void {
  /** A run ended (its reply is stored): protocol-4 subscribers get the message and the change. */
  const announceRunEnd = (p: ChatEventPayload) => {
    const run = store.getRun(p.runId);
    const session = run ? store.findSessionById(run.sessionId) : null;
    if (!run || !session) return;
    const msg = run.assistantMessageId ? store.getMessage(run.assistantMessageId) : null;
    if (msg) events.message(session.key, msg, { runId: p.runId });
    events.changed(session.key, "message", {
      phase: "message",
      ...(msg ? { messageId: msg.id } : {}),
      status: p.state === "final" ? "done" : p.state === "aborted" ? "killed" : "failed",
    });
  };

  /** A terminal event's stored reply (protocol 4 names it); none for a delta or when unreadable. */
  const storedReplyId = (p: ChatEventPayload): string | null => {
    if (p.state === "delta") return null;
    try {
      return store.getRun(p.runId)?.assistantMessageId ?? null;
    } catch (e) {
      logger.error({ err: e, runId: p.runId }, "chat event: could not read the stored reply's id");
      return null;
    }
  };

  const broadcastChat = (p: ChatEventPayload) => {
    let p4: string | undefined;
    let p3: string | undefined;
    const droppable = p.state === "delta";
    for (const c of conns) {
      if (c.state !== "open") continue;
      if (c.protocol === 3) {
        if (p3 === undefined) {
          const { errorKind: _omit, ...rest } = p;
          p3 = JSON.stringify(rest);
        }
        c.sendEvent("chat", p3, droppable);
      } else {
        p4 ??= JSON.stringify(chatEvent4(p, storedReplyId(p)));
        c.sendEvent("chat", p4, droppable);
      }
    }
    if (!droppable) {
      try {
        announceRunEnd(p);
      } catch (e) {
        logger.error({ err: e, runId: p.runId }, "session events: could not announce the end of a run");
      }
    }
  };

  return broadcastChat;
}
