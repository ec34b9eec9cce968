/**
 * Session keys as protocol 4 spells them: `agent:<agentId>:<rest>`, with the one agent of this
 * gateway, `main`. Bare keys (`main`, `s1`) stay valid (protocol 3 clients and `pipbot chat` use
 * them). A key naming another agent, or with control characters, is refused with a message that
 * says what shape is accepted.
 */
import { canonicalSessionKey } from "../shared/store/index.ts";
import { invalidRequest } from "./protocol.ts";

export const AGENT_ID = "main";
export const MAIN_SESSION_KEY = `agent:${AGENT_ID}:main`;
export const SESSION_KEY_MAX = 512;

const CONTROL = /[\u0000-\u001f\u007f]/;

/** The canonical key, or a clear INVALID_REQUEST naming the accepted shapes. */
export function checkSessionKey(raw: string, field = "sessionKey"): string {
  const key = raw.trim();
  if (key === "" || key.length > SESSION_KEY_MAX || CONTROL.test(key)) {
    throw invalidRequest(
      `invalid ${field}: expected 1-${SESSION_KEY_MAX} printable characters, e.g. "${MAIN_SESSION_KEY}"`,
    );
  }
  if (key.startsWith("agent:")) {
    const [, agent, ...rest] = key.split(":");
    if (agent !== AGENT_ID) {
      throw invalidRequest(
        `invalid ${field}: unknown agent "${(agent ?? "").slice(0, 40)}" (this gateway has one agent, "${AGENT_ID}": use "agent:${AGENT_ID}:<name>")`,
        { code: "UNKNOWN_AGENT" },
      );
    }
    if (rest.join(":").trim() === "") {
      throw invalidRequest(`invalid ${field}: "agent:${AGENT_ID}:" needs a session name after it`);
    }
  }
  return canonicalSessionKey(key);
}

/** The protocol-4 spelling of a stored key: bare keys get the `agent:main:` prefix. */
export function displayKey(stored: string): string {
  return stored.startsWith("agent:") ? stored : `agent:${AGENT_ID}:${stored}`;
}
