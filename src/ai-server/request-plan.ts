/**
 * A normalized request (from /chat, /v1/chat/completions or /v1/messages) → the engine's plan:
 * the model and its fallbacks resolved, the caller's identity, unsupported parameters refused (or
 * dropped on request), media checked, dropped signatures restored, and the call fitted to each
 * candidate's provider (the primary now: a 400 before any stream; a fallback when its turn comes).
 */
import type { Provider } from "../shared/chat-api.ts";
import { PipbotError, toPipbotError } from "../shared/errors.ts";
import { PIPBOT_HEADERS } from "../shared/headers.ts";
import { callerIdentity } from "./caller-identity.ts";
import type { ChatPlan } from "./chat.ts";
import { checkMedia } from "./media.ts";
import { candidateModels, type ModelDefaults, resolveModel } from "./models.ts";
import { fitCall } from "./providers/capabilities.ts";
import type { CallInput, ProviderRegistry } from "./providers/index.ts";
import type { ReplyMemory } from "./reply-memory.ts";

export interface Normalized {
  provider?: Provider;
  model?: string;
  fallbacks?: string[];
  stream: boolean;
  call: CallInput;
  conversationId?: string;
  /** Parameters no provider here can carry (unknown, n > 1 …). */
  unsupported?: string[];
  /** The caller allowed dropping what the provider cannot honour. */
  allowDrop: boolean;
  metadata?: Record<string, unknown>;
}

export const wantsDrop = (req: Request, field: boolean | undefined) =>
  field === true || /^(1|true|yes)$/i.test(req.headers.get(PIPBOT_HEADERS.dropParams) ?? "");

export interface PlannerDeps {
  settings: ModelDefaults & { token?: string; fallbackModels: string[] };
  registry: ProviderRegistry;
  memory: ReplyMemory;
}

export function planRequest(
  d: PlannerDeps,
  n: Normalized,
  req: Request,
  requestId: string,
): { plan: ChatPlan; dropped: string[] } {
  const s = d.settings;
  const primary = resolveModel(n.model, n.provider, s, d.registry.configured);
  d.registry.get(primary.provider); // provider_not_configured → 400 before any stream starts
  const identity = callerIdentity(req, s.token);
  const unsupported = n.unsupported ?? [];
  if (unsupported.length && !n.allowDrop)
    throw new PipbotError(
      "invalid_request",
      `${unsupported.join(", ")} ${unsupported.length > 1 ? "are" : "is"} not supported by this AI server (for ${primary.id}): remove ${unsupported.length > 1 ? "them" : "it"}, or send drop_params: true (or the header ${PIPBOT_HEADERS.dropParams}: true) to have ${unsupported.length > 1 ? "them" : "it"} dropped`,
      { details: { path: unsupported[0], provider: primary.provider } },
    );
  checkMedia(n.call.messages);
  d.memory.restore(n.call.messages);
  // The primary's fit is checked now (a 400 before any stream); a fallback that cannot honour the
  // request is skipped when its turn comes.
  const fitted = fitCall(primary.provider, primary.model, n.call, n.allowDrop);
  const p: ChatPlan = {
    requestId,
    candidates: candidateModels(primary, n.fallbacks ?? s.fallbackModels, s, d.registry.configured),
    call: fitted.call,
    callFor: (ref) => {
      if (ref.id === primary.id) return fitted.call;
      try {
        return fitCall(ref.provider, ref.model, n.call, n.allowDrop).call;
      } catch (e) {
        return toPipbotError(e);
      }
    },
    stream: n.stream,
  };
  if (n.conversationId) p.conversationId = n.conversationId;
  if (identity) p.identity = identity;
  if (n.call.user !== undefined) p.user = n.call.user;
  if (n.metadata) p.metadata = n.metadata;
  return { plan: p, dropped: [...unsupported, ...fitted.dropped] };
}
