/**
 * Who the assistant is and what it understands: `agent.identity.get` (the one agent, `main`,
 * named pipbot, with the avatar the gateway serves at `/avatar/main`) and `commands.list` (the
 * slash commands the gateway itself acts on in `chat.send`: `/stop`).
 */
import { z } from "zod";
import { invalidRequest } from "../protocol.ts";
import { type MethodHandler, parseParams } from "./types.ts";

export const AGENT_ID = "main";
export const AGENT_NAME = "pipbot";
export const AVATAR_PATH = `/avatar/${AGENT_ID}`;

const identityParams = z.looseObject({
  agentId: z.string().min(1).optional(),
  sessionKey: z.string().optional(),
});

export const agentIdentity: MethodHandler = (_ctx, raw) => {
  const p = parseParams("agent.identity.get", identityParams, raw);
  if (p.agentId !== undefined && p.agentId !== AGENT_ID)
    throw invalidRequest(
      `unknown agent: ${p.agentId.slice(0, 100)} (this gateway has one agent, "${AGENT_ID}")`,
    );
  return {
    agentId: AGENT_ID,
    name: AGENT_NAME,
    nameSource: "default",
    avatar: AVATAR_PATH,
    avatarSource: "pipbot",
    avatarStatus: "local",
  };
};

const commandsParams = z.looseObject({
  sessionKey: z.string().min(1).optional(),
  agentId: z.string().min(1).optional(),
  provider: z.string().min(1).optional(),
  scope: z.enum(["text", "native", "both"]).optional(),
  includeArgs: z.boolean().optional(),
});

export const commandsList: MethodHandler = (_ctx, raw) => {
  const p = parseParams("commands.list", commandsParams, raw);
  // The only command the gateway acts on is text: there are no native (button) commands.
  if (p.scope === "native") return { commands: [] };
  return {
    commands: [
      {
        name: "stop",
        description: "Stop the reply being written in this session (the partial reply is kept).",
        category: "session",
        source: "native",
        scope: "text",
        acceptsArgs: false,
        ...(p.includeArgs ? { args: [] } : {}),
      },
    ],
  };
};
