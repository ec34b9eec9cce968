/**
 * The local release log: append-only JSON lines, one per release or rollback attempt, written
 * whether the attempt succeeded or failed (a failed backup copy is recorded as failed).
 * Default `.release-log.jsonl` at the repository root (git-ignored), or $PIPBOT_RELEASE_LOG.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Mode } from "./plan.ts";

export const DEFAULT_RELEASE_LOG = ".release-log.jsonl";

export interface ReleaseRecord {
  /** ISO time the attempt finished. */
  time: string;
  action: "release" | "rollback";
  status: "released" | "rolled-back" | "failed";
  mode: Mode;
  app: string;
  config: string;
  tag: string;
  ref: string;
  /** Full git SHA of the release (null for a rollback). */
  sha: string | null;
  dirty: boolean;
  backupRef: string | null;
  /** The digest the pushed image and its backup were checked to share (successful releases with a backup). */
  digest?: string;
  failedStep?: string;
  exitCode?: number;
}

export function appendRecord(path: string, rec: ReleaseRecord): void {
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${JSON.stringify(rec)}\n`);
}

/** Every parseable record (oldest first) and how many lines could not be read. */
export function readRecords(path: string): { records: ReleaseRecord[]; unreadable: number } {
  if (!existsSync(path)) return { records: [], unreadable: 0 };
  const records: ReleaseRecord[] = [];
  let unreadable = 0;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    try {
      const r = JSON.parse(line) as Partial<ReleaseRecord>;
      if (typeof r.tag === "string" && typeof r.status === "string" && typeof r.app === "string") {
        records.push(r as ReleaseRecord);
      } else unreadable++;
    } catch {
      unreadable++;
    }
  }
  return { records, unreadable };
}

/** The latest successful release of `app` other than `exceptTag` (the usual rollback target). */
export function previousRelease(
  records: ReleaseRecord[],
  app: string,
  exceptTag?: string,
): ReleaseRecord | undefined {
  const ok = (r: ReleaseRecord) => r.app === app && r.action === "release" && r.status === "released";
  return records.filter((r) => ok(r) && r.tag !== exceptTag).at(-1);
}

export function formatRecords(records: ReleaseRecord[]): string {
  const rows = [["TIME", "ACTION", "STATUS", "MODE", "APP", "TAG", "SHA", "BACKUP"]];
  for (const r of records) {
    const status =
      r.status === "failed" ? `failed (${r.failedStep ?? "?"}, exit ${r.exitCode ?? "?"})` : r.status;
    rows.push([
      r.time,
      r.action,
      status,
      r.mode,
      r.app,
      r.tag,
      r.sha ? r.sha.slice(0, 7) + (r.dirty ? "+dirty" : "") : "-",
      r.backupRef ?? "-",
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  return rows
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
