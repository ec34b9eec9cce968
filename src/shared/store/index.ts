export type { FinishRun } from "./runs.ts";
export { canonicalSessionKey, type SessionPatch } from "./sessions.ts";
export { DB_FILE, dbPath, openStore, Store } from "./store.ts";
export * from "./types.ts";
