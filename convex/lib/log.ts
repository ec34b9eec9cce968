/**
 * One wide JSON log line per request (Convex shows console output in its logs). Callers pass only
 * ids, counts and outcomes: never a key, token, signature or message content. Tests swap the sink
 * to read the lines.
 */
export const logSink: { write: (line: string) => void } = { write: (line) => console.log(line) };

export function logLine(fields: Record<string, unknown>): void {
  logSink.write(JSON.stringify({ at: new Date().toISOString(), ...fields }));
}
