/**
 * What the usage panels share: the date range of a request (startDate/endDate, days or range, in
 * the caller's UTC offset; default the last 30 days) and token totals priced by the one price
 * table (src/shared/prices.ts) — a model without a price counts as `missingCostEntries`.
 */
import { z } from "zod";
import { costOf, priceOf } from "../../shared/prices.ts";
import type { UsageGroup } from "../../shared/store/index.ts";
import { invalidRequest } from "../protocol.ts";

const DAY_MS = 86_400_000;
const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "expected YYYY-MM-DD");
const utcOffset = z.string().regex(/^UTC[+-]\d{1,2}(?::[0-5]\d)?$/, "expected UTC±H[:MM]");
export const rangeParams = {
  startDate: date.optional(),
  endDate: date.optional(),
  days: z.number().int().min(1).max(3660).optional(),
  range: z.enum(["7d", "30d", "90d", "1y", "all"]).optional(),
  mode: z.enum(["utc", "gateway", "specific"]).optional(),
  utcOffset: utcOffset.optional(),
  timeZone: z.string().min(1).optional(),
};

export interface Range {
  startMs: number;
  endMs: number;
  offsetMs: number;
  startDate: string;
  endDate: string;
  days: number;
}

function offsetOf(p: { mode?: string | undefined; utcOffset?: string | undefined }): number {
  if (p.mode !== "specific" || !p.utcOffset) return 0; // "gateway" time is UTC on a pipbot VM
  const m = /^UTC([+-])(\d{1,2})(?::(\d\d))?$/.exec(p.utcOffset);
  if (!m) return 0;
  const minutes = Number(m[2]) * 60 + Number(m[3] ?? 0);
  if (minutes > 14 * 60) throw invalidRequest(`utcOffset out of range: ${p.utcOffset}`);
  return (m[1] === "-" ? -1 : 1) * minutes * 60_000;
}

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The [start, end] of the request in epoch ms, in the caller's zone; default the last 30 days. */
export function rangeOf(p: z.infer<z.ZodObject<typeof rangeParams>>, now: number): Range {
  const offsetMs = offsetOf(p);
  const today = Date.parse(dayOf(now + offsetMs)); // midnight of today in the caller's zone, as UTC
  let start: number;
  let end = today + DAY_MS - 1;
  if (p.startDate && p.endDate) {
    start = Date.parse(p.startDate);
    end = Date.parse(p.endDate) + DAY_MS - 1;
    if (end < start) throw invalidRequest("endDate is before startDate");
  } else if (p.range === "all") start = 0;
  else {
    const n = p.range ? { "7d": 7, "30d": 30, "90d": 90, "1y": 365 }[p.range] : (p.days ?? 30);
    start = today - (n - 1) * DAY_MS;
  }
  return {
    startMs: start - offsetMs,
    endMs: end - offsetMs,
    offsetMs,
    startDate: dayOf(start),
    endDate: dayOf(end),
    days: Math.max(1, Math.round((end + 1 - start) / DAY_MS)),
  };
}

export interface Totals {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  totalTokens: number;
  totalCost: number;
  inputCost: number;
  outputCost: number;
  cacheReadCost: number;
  cacheWriteCost: number;
  missingCostEntries: number;
}

export const emptyTotals = (): Totals => ({
  input: 0,
  output: 0,
  cacheRead: 0,
  cacheWrite: 0,
  totalTokens: 0,
  totalCost: 0,
  inputCost: 0,
  outputCost: 0,
  cacheReadCost: 0,
  cacheWriteCost: 0,
  missingCostEntries: 0,
});

export function totalsOf(g: TokenRow): Totals {
  const t = emptyTotals();
  t.input = g.inputTokens;
  t.output = g.outputTokens;
  t.cacheRead = g.cacheReadTokens;
  t.cacheWrite = g.cacheWriteTokens;
  t.totalTokens = g.inputTokens + g.outputTokens + g.cacheReadTokens + g.cacheWriteTokens;
  const price = priceOf(g.provider, g.model);
  if (price) Object.assign(t, costOf(g, price));
  else t.missingCostEntries = g.requests ?? 1;
  return t;
}

export function add(into: Totals, t: Totals): Totals {
  for (const k of Object.keys(into) as (keyof Totals)[]) into[k] += t[k];
  return into;
}

/** Tokens of one request or of a group of requests (`requests` absent: one). */
export type TokenRow = Pick<
  UsageGroup,
  "provider" | "model" | "inputTokens" | "outputTokens" | "cacheReadTokens" | "cacheWriteTokens"
> & { requests?: number };
