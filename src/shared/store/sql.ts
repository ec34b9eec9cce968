/**
 * The plumbing between SQLite and the table files: raw rows, prepared statements by name, and
 * decoding of the JSON columns shared by the messages and outbox readers.
 */
import type { Database, Statement } from "bun:sqlite";
import type { ChatUsage } from "../chat-api.ts";
import type { ContentBlock, TurnError } from "./types.ts";

export type Row = Record<string, unknown>;

/** What every table file works on: the open database and the store's clock. */
export interface Connection {
  db: Database;
  now: () => number;
}

/** Prepare each named statement once (the tables must exist: call after migrating). */
export function prepare<K extends string>(db: Database, sql: Record<K, string>): Record<K, Statement> {
  const out = {} as Record<K, Statement>;
  for (const name of Object.keys(sql) as K[]) out[name] = db.query(sql[name]);
  return out;
}

export const toUsage = (raw: unknown): ChatUsage | null =>
  typeof raw === "string" ? (JSON.parse(raw) as ChatUsage) : null;

export const toContent = (raw: unknown): ContentBlock[] => JSON.parse(raw as string) as ContentBlock[];

export const toError = (raw: unknown): TurnError | null =>
  typeof raw === "string" ? (JSON.parse(raw) as TurnError) : null;
