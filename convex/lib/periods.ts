/** UTC budget periods: day keys "YYYY-MM-DD", month keys "YYYY-MM", and when each ends. */
export const dayKey = (ms: number) => new Date(ms).toISOString().slice(0, 10);
export const monthKey = (ms: number) => new Date(ms).toISOString().slice(0, 7);

export function periodKey(period: "day" | "month", ms: number): string {
  return period === "day" ? dayKey(ms) : monthKey(ms);
}

/** Seconds until the period containing `ms` ends (at least 1). */
export function secondsLeft(period: "day" | "month", ms: number): number {
  const d = new Date(ms);
  const end =
    period === "day"
      ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1)
      : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return Math.max(1, Math.ceil((end - ms) / 1000));
}
