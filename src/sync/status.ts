/**
 * The sync worker's status: the shape of `GET /status` (contracts.md) and the loopback HTTP handler
 * serving `/healthz`, `/status` and `/quarantine`. Pure: main.ts gives it to Bun.serve.
 */
import { errorResponse, PipbotError } from "../shared/errors.ts";
import type { OutboxStats } from "../shared/store/index.ts";

export type SyncState = "disabled" | "idle" | "syncing" | "backing_off" | "auth_error";

export interface LastError {
  at: number;
  message: string;
  status?: number;
  /** What to check (401/403: credentials, provisioning, or the machine clock). */
  hint?: string;
}

export interface SyncStatus {
  state: SyncState;
  pending: number;
  oldestPendingAgeMs: number | null;
  lastSuccessAt: number | null;
  lastError: LastError | null;
  quarantined: number;
  delivered: number;
}

/** Runner state + outbox counts → the /status body. */
export function buildStatus(
  run: { state: SyncState; lastSuccessAt: number | null; lastError: LastError | null },
  stats: OutboxStats,
  nowMs: number,
): SyncStatus {
  return {
    state: run.state,
    pending: stats.pending,
    oldestPendingAgeMs: stats.oldestPendingAt === null ? null : Math.max(0, nowMs - stats.oldestPendingAt),
    lastSuccessAt: run.lastSuccessAt,
    lastError: run.lastError,
    quarantined: stats.quarantined,
    delivered: stats.delivered,
  };
}

export interface StatusSource {
  status(): SyncStatus;
  quarantined(): { seq: number; messageId: string; lastError: string | null; at: number }[];
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });

/** The status server's fetch handler. Loopback only, no token (contracts.md). */
export function statusHandler(source: StatusSource): (req: Request) => Response {
  return (req) => {
    try {
      const { pathname } = new URL(req.url);
      if (req.method !== "GET" && req.method !== "HEAD") {
        return errorResponse(new PipbotError("invalid_request", "only GET is supported", { status: 405 }));
      }
      if (pathname === "/healthz") return json({ ok: true });
      if (pathname === "/status") return json(source.status());
      if (pathname === "/quarantine") return json({ entries: source.quarantined() });
      return errorResponse(
        new PipbotError("not_found", `no route ${pathname} (try /healthz, /status, /quarantine)`),
      );
    } catch (e) {
      return errorResponse(new PipbotError("unavailable", `status unavailable: ${(e as Error).message}`));
    }
  };
}
