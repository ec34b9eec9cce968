/** Sessions: one row per canonical session key, created on first use. */
import { type Connection, prepare, type Row } from "./sql.ts";
import type { Session } from "./types.ts";

/** `main`, `agent:main:main` and `agent:<default>:main` are one session. */
export function canonicalSessionKey(key: string, defaultAgent = "main"): string {
  const k = key.trim();
  if (k === "" || k === "main" || k === `agent:${defaultAgent}:main` || k === "agent:main:main") {
    return `agent:${defaultAgent}:main`;
  }
  return k;
}

function sessionFromRow(r: Row): Session {
  return {
    id: r.id as string,
    key: r.key as string,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

export class Sessions {
  private readonly q;

  constructor(private readonly c: Connection) {
    this.q = prepare(c.db, {
      byKey: "SELECT * FROM sessions WHERE key = ?",
      insert: "INSERT INTO sessions (id, key, created_at, updated_at) VALUES (?, ?, ?, ?)",
      list: "SELECT * FROM sessions ORDER BY updated_at DESC LIMIT ?",
    });
  }

  find(key: string): Session | null {
    const r = this.q.byKey.get(canonicalSessionKey(key)) as Row | null;
    return r ? sessionFromRow(r) : null;
  }

  getOrCreate(key: string): Session {
    const canonical = canonicalSessionKey(key);
    return this.c.db
      .transaction(() => {
        const existing = this.q.byKey.get(canonical) as Row | null;
        if (existing) return sessionFromRow(existing);
        const t = this.c.now();
        const id = crypto.randomUUID();
        this.q.insert.run(id, canonical, t, t);
        return { id, key: canonical, createdAt: t, updatedAt: t };
      })
      .immediate();
  }

  listRecent(limit: number): Session[] {
    return (this.q.list.all(limit) as Row[]).map(sessionFromRow);
  }
}
