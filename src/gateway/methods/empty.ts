/**
 * Features of the OpenClaw gateway that a pipbot VM does not have but whose "list" the published
 * clients load on every page (approvals, cron jobs, channels, plugins, skills, questions,
 * environments …): each answers a valid EMPTY result of its schema shape, so the Control UI shows
 * "none" instead of an error. Chosen per method after reading what the Control UI 2026.9 does with
 * the answer (e.g. the approval queues are arrays, `cron.runs` reads `entries`/`total`).
 * Everything else of the published schema that pipbot does not answer is `NOT_OFFERED`
 * (`refusalOf` in index.ts); names outside the schema stay `unknown method`.
 */
import type { MethodHandler } from "./types.ts";

const list =
  (value: () => unknown): MethodHandler =>
  () =>
    value();

export const EMPTY_METHODS: Record<string, MethodHandler> = {
  // Approval queues: the UI takes an array per kind (exec, plugin, system agent).
  "exec.approval.list": list(() => []),
  "plugin.approval.list": list(() => []),
  "openclaw.approval.list": list(() => []),
  "approval.history": list(() => ({ items: [] })),
  "exec.approval.grants.list": list(() => ({ grants: [] })),
  "question.list": list(() => ({ questions: [] })),
  // No updater on a VM: the platform rolls out new images.
  "update.status": list(() => ({ sentinel: null, updateAvailable: null })),
  "sessions.observer.visibility": list(() => ({ ok: true })),
  "progressCard.get": list(() => ({ card: null })),
  "diagnostics.lanes": list(() => ({ lanes: [] })),
  "cron.list": list(() => ({ jobs: [], total: 0, offset: 0, limit: 0, hasMore: false, nextOffset: null })),
  "cron.status": list(() => ({ enabled: false, jobs: 0, nextWakeAtMs: null })),
  "cron.runs": list(() => ({ entries: [], total: 0, offset: 0, hasMore: false, nextOffset: null })),
  "channels.status": (ctx) => ({
    ts: ctx.now(),
    channelOrder: [],
    channelLabels: {},
    channels: {},
    channelAccounts: {},
    channelDefaultAccountId: {},
  }),
  "channels.pairing.list": list(() => ({
    accounts: [],
    requests: [],
    commandOwnerConfigured: false,
    limits: { pendingPerAccount: 0, ttlMs: 0 },
  })),
  "plugins.list": list(() => ({ plugins: [], diagnostics: [], mutationAllowed: false })),
  "skills.status": list(() => ({ skills: [] })),
  "skills.library.list": list(() => ({ skills: [] })),
  "skills.search": list(() => ({ results: [] })),
  "environments.list": list(() => ({ environments: [] })),
  "tasks.list": list(() => ({ tasks: [] })),
  // The chat page asks for a session's branches and its companion's exchanges: a pipbot session
  // is one linear transcript without a companion.
  "sessions.branches.list": list(() => ({ branches: [] })),
  "sessions.companion.state": list(() => ({ exchanges: [] })),
  "worktrees.list": list(() => ({ worktrees: [] })),
  "artifacts.list": list(() => ({ artifacts: [] })),
  // No voice: no talk modes, transports or providers.
  "talk.catalog": list(() => ({
    modes: [],
    transports: [],
    brains: [],
    speech: { providers: [] },
    transcription: { providers: [] },
    realtime: { providers: [] },
  })),
  "system-presence": list(() => []),
};
