/**
 * Usage accounting: every request that reached the engine — completed, failed or aborted — is
 * recorded in the store and logged as ONE wide line (provider, model, tokens, latency, TTFT,
 * status, attempts). A store failure is logged, never turned into a failed request: the store
 * writes usage rows in batches (src/shared/store/usage-writer.ts), so a failed write is reported
 * later, through `logUsageProblem`.
 */
import type { Logger } from "../shared/log.ts";
import type { Store } from "../shared/store/index.ts";
import type { UsageWriteProblem } from "../shared/store/usage-writer.ts";
import type { ChatOutcome, ChatPlan } from "./chat.ts";

export interface AccountingDeps {
  store: Pick<Store, "recordUsage"> | null;
  logger: Logger;
  simulator: boolean;
  /** proxy-v1: the server's own CLERK_USER_ID, the user of a request without a forwarded identity. */
  ownUserId?: string | undefined;
}

/** Whom the request is attributed to: the caller's forwarded user, else the server's own (proxy mode). */
export function effectiveUserId(d: Pick<AccountingDeps, "ownUserId">, plan: ChatPlan): string | undefined {
  return plan.identity?.userId ?? d.ownUserId;
}

export function account(
  d: AccountingDeps,
  plan: ChatPlan,
  o: ChatOutcome,
  api: "chat" | "openai" | "anthropic",
): void {
  const userId = effectiveUserId(d, plan);
  // Built field by field (no spread of temporary objects): this runs once per request.
  const fields: Record<string, unknown> = {
    requestId: plan.requestId,
    api,
    stream: plan.stream,
    provider: o.ref.provider,
    model: o.ref.model,
    status: o.status,
    attempts: o.attempts,
    latencyMs: Math.round(o.latencyMs * 100) / 100,
  };
  if (o.ttftMs !== undefined) fields.ttftMs = Math.round(o.ttftMs * 100) / 100;
  fields.usage = o.usage;
  fields.stopReason = o.stopReason;
  fields.outputChars = o.text.length;
  if (plan.conversationId) fields.conversationId = plan.conversationId;
  if (plan.user !== undefined) fields.endUser = plan.user;
  if (plan.metadata) fields.metadata = plan.metadata;
  let toolCalls = 0;
  for (const p of o.parts) if (p.type === "tool_call") toolCalls++;
  if (toolCalls) fields.toolCalls = toolCalls;
  // Only when the caller sent its own identity (else it is the server's CLERK_USER_ID).
  if (plan.identity) fields.userId = plan.identity.userId;
  if (o.error) {
    fields.errorCode = o.error.code;
    fields.error = o.error.message;
    fields.retryable = o.error.retryable;
  }
  if (o.tries.length > 1) fields.tries = o.tries;
  if (d.simulator) fields.simulator = true;
  if (o.status === "error") d.logger.warn(fields, "chat request failed");
  else d.logger.info(fields, o.status === "aborted" ? "chat request aborted" : "chat request");
  if (!d.store) return;
  try {
    d.store.recordUsage({
      requestId: plan.requestId,
      provider: o.ref.provider,
      model: o.ref.model,
      status: o.status,
      usage: o.usage,
      latencyMs: Math.round(o.latencyMs),
      ...(o.ttftMs !== undefined ? { ttftMs: Math.round(o.ttftMs) } : {}),
      attempts: o.attempts,
      ...(plan.conversationId ? { conversationId: plan.conversationId } : {}),
      ...(userId !== undefined ? { userId } : {}),
      ...(plan.user !== undefined ? { endUser: plan.user } : {}),
      ...(o.error ? { errorCode: o.error.code } : {}),
    });
  } catch (e) {
    d.logger.error(
      { requestId: plan.requestId, err: e instanceof Error ? e.message : String(e) },
      "could not record usage in the store",
    );
  }
}

/** The store's usage write problems (Store option `onUsageProblem`) as log lines. */
export function logUsageProblem(logger: Logger, p: UsageWriteProblem): void {
  if (p.kind === "recovered") logger.warn(p, "usage rows written after failed attempts");
  else if (p.kind === "retrying")
    logger.error(p, "could not record usage in the store yet: the rows are kept and retried");
  else logger.error(p, "could not record usage in the store: rows lost");
}
