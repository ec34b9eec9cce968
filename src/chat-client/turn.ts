/**
 * One chat turn over a ChatConnection: `chat.send`, then stream the run's `chat` events to a
 * writer until exactly one terminal state (final / aborted / error) or the socket closes.
 */
import type { EventFrame, GatewayClientError } from "./client.ts";

/** What a turn needs of a connection (a ChatConnection, or the interactive ChatLink). */
export interface Requester {
  request<T = unknown>(method: string, params?: unknown): Promise<T>;
}

export type TurnResult =
  | { state: "final"; text: string }
  | { state: "aborted"; text: string }
  /** `kind`: the gateway's errorKind, when it sent one. */
  | { state: "error"; text: string; message: string; kind?: string }
  | { state: "closed"; text: string; message: string };

interface ChatPayload {
  runId?: string;
  state?: string;
  deltaText?: string;
  message?: { content?: { type?: string; text?: string }[] };
  errorMessage?: string;
  errorKind?: string;
}

function messageText(p: ChatPayload): string | undefined {
  const c = p.message?.content;
  if (!Array.isArray(c)) return undefined;
  return c.map((b) => (typeof b?.text === "string" ? b.text : "")).join("");
}

export interface Turn {
  runId: string;
  result: Promise<TurnResult>;
  /** Feed every event of the connection here. */
  onEvent(ev: EventFrame): void;
  /** The socket closed: ends the turn if it is still running. */
  onClose(code: number, reason: string): void;
  abort(): Promise<void>;
}

export function startTurn(
  conn: Requester,
  sessionKey: string,
  text: string,
  write: (chunk: string) => void,
): Turn {
  const runId = crypto.randomUUID();
  let printed = "";
  let done = false;
  const { promise, resolve } = Promise.withResolvers<TurnResult>();
  const finish = (r: TurnResult) => {
    if (done) return;
    done = true;
    resolve(r);
  };
  const show = (full: string | undefined, delta: string | undefined) => {
    // Prefer the cumulative text (robust to coalescing); fall back to deltaText.
    const next = full !== undefined ? full : printed + (delta ?? "");
    if (next.startsWith(printed) && next.length > printed.length) {
      write(next.slice(printed.length));
      printed = next;
    }
  };
  const onEvent = (ev: EventFrame) => {
    if (ev.event !== "chat" || done) return;
    const p = (ev.payload ?? {}) as ChatPayload;
    if (p.runId !== runId) return;
    if (p.state === "delta") show(messageText(p), p.deltaText);
    else if (p.state === "final") {
      show(messageText(p), undefined);
      finish({ state: "final", text: printed });
    } else if (p.state === "aborted") {
      show(messageText(p), undefined);
      finish({ state: "aborted", text: printed });
    } else if (p.state === "error") {
      finish({
        state: "error",
        text: printed,
        message: p.errorMessage ?? "run failed",
        ...(p.errorKind ? { kind: p.errorKind } : {}),
      });
    }
  };
  conn.request("chat.send", { sessionKey, message: text, idempotencyKey: runId }).catch((e: Error) => {
    // Not connected (and no reconnect in time): a connection problem, not the run's.
    const kind = (e as GatewayClientError).kind;
    if (kind === "closed" || kind === "connect")
      finish({ state: "closed", text: printed, message: e.message });
    else finish({ state: "error", text: printed, message: e.message });
  });
  return {
    runId,
    result: promise,
    onEvent,
    onClose: (code, reason) =>
      finish({
        state: "closed",
        text: printed,
        message: `connection closed (${code}${reason ? ` ${reason}` : ""})`,
      }),
    abort: async () => {
      if (done) return;
      await conn.request("chat.abort", { sessionKey, runId }).catch(() => {});
    },
  };
}
