/**
 * Session subscriptions and their events (protocol 4): a connection that called
 * `sessions.subscribe` receives `sessions.changed` for every session; one that called
 * `sessions.messages.subscribe {key}` receives `session.message` for that session's stored
 * messages. `chat.metadata.changed` goes to every session subscriber. The subscription state
 * lives on the Connection, so it ends with the socket.
 */
import type { StoredMessage } from "../shared/store/index.ts";
import type { Connection } from "./connection.ts";
import { displayKey } from "./session-keys.ts";
import { type AttachmentSource, wireMessage4 } from "./wire4.ts";

/** At most this many per-session message subscriptions per connection (a storm is refused). */
export const MAX_MESSAGE_SUBSCRIPTIONS = 64;

export interface SessionEvents {
  /** A session was created, patched, reset, deleted or got a message. */
  changed(storedKey: string, reason: string, extra?: Record<string, unknown>): void;
  /** A message was stored in the session. */
  message(storedKey: string, message: StoredMessage, extra?: Record<string, unknown>): void;
  metadataChanged(): void;
}

export function createSessionEvents(
  conns: Iterable<Connection>,
  now: () => number,
  store: AttachmentSource,
): SessionEvents {
  const open = function* () {
    for (const c of conns) if (c.state === "open" && c.protocol === 4) yield c;
  };
  return {
    changed(storedKey, reason, extra = {}) {
      let json: string | undefined;
      for (const c of open()) {
        if (!c.subs.sessions) continue;
        json ??= JSON.stringify({
          sessionKey: displayKey(storedKey),
          agentId: "main",
          reason,
          ts: now(),
          ...extra,
        });
        c.sendEvent("sessions.changed", json, true);
      }
    },
    message(storedKey, message, extra = {}) {
      let json: string | undefined;
      for (const c of open()) {
        if (!c.subs.messages.has(storedKey)) continue;
        json ??= JSON.stringify({
          sessionKey: displayKey(storedKey),
          agentId: "main",
          message: wireMessage4(message, store),
          messageId: message.id,
          ...(message.runId ? { runId: message.runId } : {}),
          ...extra,
        });
        c.sendEvent("session.message", json);
      }
    },
    metadataChanged() {
      for (const c of open()) if (c.subs.sessions) c.sendEvent("chat.metadata.changed", "{}", true);
    },
  };
}
