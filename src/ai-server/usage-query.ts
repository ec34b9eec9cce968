/**
 * `GET /usage`'s query: `since` (ISO date or epoch ms; default 0), `user` (a CLERK_USER_ID: only
 * the requests billed to that user, usage.user_id) and `endUser` (only the requests whose caller
 * named that end user: OpenAI `user`, /chat `user`, Anthropic `metadata.user_id`; the caller's
 * customer, not the billed user). Bad values are a 400 naming the parameter.
 */
import { PipbotError } from "../shared/errors.ts";
import type { Store } from "../shared/store/index.ts";
import { identityRule, validIdentity } from "./caller-identity.ts";

export interface UsageQuery {
  since: number;
  user?: string;
  endUser?: string;
}

export function usageQuery(param: (name: string) => string | undefined): UsageQuery {
  const raw = param("since");
  let since = 0;
  if (raw !== undefined && raw !== "") {
    since = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
    // Also out of Date's range (±8.64e15 ms) → 400, not a RangeError later.
    if (Number.isNaN(new Date(since).getTime()))
      throw new PipbotError(
        "invalid_request",
        `since must be an ISO date or epoch milliseconds, got "${raw}"`,
        {
          details: { path: "since" },
        },
      );
  }
  const q: UsageQuery = { since };
  const user = param("user");
  if (user !== undefined && !validIdentity("userId", user))
    throw new PipbotError("invalid_request", `user must be ${identityRule("userId")}`, {
      details: { path: "user" },
    });
  if (user !== undefined) q.user = user;
  const endUser = param("endUser");
  if (endUser !== undefined && (endUser.length === 0 || endUser.length > 256))
    throw new PipbotError("invalid_request", "endUser must be 1–256 characters (the request's `user`)", {
      details: { path: "endUser" },
    });
  if (endUser !== undefined) q.endUser = endUser;
  return q;
}

/** `GET /usage`'s answer: the totals since `since`, of one billed user and/or one end user. */
export function usageResponse(
  store: Pick<Store, "usageTotals"> | null,
  param: (name: string) => string | undefined,
): Response {
  const q = usageQuery(param);
  if (!store) throw new PipbotError("unavailable", "usage store is not open");
  return Response.json({
    since: new Date(q.since).toISOString(),
    ...(q.user !== undefined ? { user: q.user } : {}),
    ...(q.endUser !== undefined ? { endUser: q.endUser } : {}),
    totals: store.usageTotals(q.since, q.user, q.endUser),
  });
}
