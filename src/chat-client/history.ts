/**
 * What the interactive `pipbot chat` prints of a session: its last messages (a turn that ended
 * aborted / interrupted / error marked as such, never as the assistant's words), then which
 * session and model this is.
 */
import { describeModel, modelLine } from "./commands.ts";
import type { ChatLink } from "./link.ts";

export interface HistoryMessage {
  role: string;
  content?: { text?: string }[];
  stopReason?: string;
  errorMessage?: string;
}

/**
 * One history entry as printed: `you: …` / `assistant: …`. A turn that ended aborted / interrupted
 * / error shows its partial text (if any) as the assistant's, and the gateway's notice (always the
 * last content block) on its own line in brackets, never as something the assistant said.
 */
export function historyLines(m: HistoryMessage): string {
  const blocks = m.content ?? [];
  const join = (bs: { text?: string }[]) => bs.map((b) => b.text ?? "").join("");
  if (m.role !== "assistant") return `you: ${join(blocks)}\n`;
  if (m.stopReason === "aborted" || m.stopReason === "interrupted" || m.stopReason === "error") {
    const partial = join(blocks.slice(0, -1));
    const notice = join(blocks.slice(-1)) || m.errorMessage || m.stopReason;
    return `${partial ? `assistant: ${partial}\n` : ""}[${notice}]\n`;
  }
  return `assistant: ${join(blocks)}\n`;
}

/** The last 10 messages of a session, then which session and model this is. */
export async function showSession(
  link: ChatLink,
  sessionKey: string,
  out: NodeJS.WriteStream,
): Promise<void> {
  try {
    const h = await link.request<{ messages?: HistoryMessage[] }>("chat.history", { sessionKey, limit: 10 });
    const msgs = h.messages ?? [];
    if (msgs.length > 0) out.write(`-- last ${msgs.length} message(s) of session ${sessionKey} --\n`);
    for (const m of msgs) out.write(historyLines(m));
  } catch (e) {
    process.stderr.write(`pipbot chat: could not load history: ${(e as Error).message}\n`);
  }
  const model = await describeModel(link, sessionKey, (m) => link.offers(m));
  out.write(`connected to session ${sessionKey}; ${modelLine(model)}\n`);
}
