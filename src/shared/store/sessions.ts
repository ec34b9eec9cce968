/**
 * Sessions: one live row per canonical session key, created on first use. `reset` retires the
 * live row (its transcript is kept and still synced) and starts a new one under the same key;
 * `delete` retires it as deleted. A retired row keeps the client key in `base_key`; its `key`
 * becomes `<key>#<id>` so the unique live key is free again.
 */
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
  const s: Session = {
    id: r.id as string,
    key: (r.base_key as string | null) ?? (r.key as string),
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
  if (typeof r.label === "string") s.label = r.label;
  if (typeof r.model === "string") s.model = r.model;
  if (typeof r.retired_at === "number") s.retiredAt = r.retired_at;
  if (typeof r.deleted_at === "number") s.deletedAt = r.deleted_at;
  return s;
}

export interface SessionPatch {
  label?: string | null;
  model?: string | null;
}

export class Sessions {
  private readonly q;

  constructor(private readonly c: Connection) {
    this.q = prepare(c.db, {
      byKey: "SELECT * FROM sessions WHERE key = ?",
      byId: "SELECT * FROM sessions WHERE id = ?",
      byLabel: "SELECT * FROM sessions WHERE label = ? AND retired_at IS NULL",
      insert:
        "INSERT INTO sessions (id, key, created_at, updated_at, label, model) VALUES (?, ?, ?, ?, ?, ?)",
      list: "SELECT * FROM sessions WHERE retired_at IS NULL ORDER BY updated_at DESC LIMIT ?",
      setLabel: "UPDATE sessions SET label = ?, updated_at = ? WHERE id = ?",
      setModel: "UPDATE sessions SET model = ?, updated_at = ? WHERE id = ?",
      retire:
        "UPDATE sessions SET key = key || '#' || id, base_key = key, retired_at = ?, deleted_at = ? WHERE id = ?",
    });
  }

  find(key: string): Session | null {
    const r = this.q.byKey.get(canonicalSessionKey(key)) as Row | null;
    return r ? sessionFromRow(r) : null;
  }

  byId(id: string): Session | null {
    const r = this.q.byId.get(id) as Row | null;
    return r ? sessionFromRow(r) : null;
  }

  byLabel(label: string): Session | null {
    const r = this.q.byLabel.get(label) as Row | null;
    return r ? sessionFromRow(r) : null;
  }

  getOrCreate(key: string, init: { label?: string; model?: string } = {}): Session {
    const canonical = canonicalSessionKey(key);
    return this.c.db
      .transaction(() => {
        const existing = this.q.byKey.get(canonical) as Row | null;
        if (existing) return sessionFromRow(existing);
        return this.insert(canonical, init);
      })
      .immediate();
  }

  private insert(canonical: string, init: { label?: string; model?: string }): Session {
    const t = this.c.now();
    const id = crypto.randomUUID();
    this.q.insert.run(id, canonical, t, t, init.label ?? null, init.model ?? null);
    const s: Session = { id, key: canonical, createdAt: t, updatedAt: t };
    if (init.label) s.label = init.label;
    if (init.model) s.model = init.model;
    return s;
  }

  patch(key: string, p: SessionPatch): Session {
    const canonical = canonicalSessionKey(key);
    return this.c.db
      .transaction(() => {
        const existing = this.q.byKey.get(canonical) as Row | null;
        const s = existing ? sessionFromRow(existing) : this.insert(canonical, {});
        const t = this.c.now();
        if (p.label !== undefined) this.q.setLabel.run(p.label, t, s.id);
        if (p.model !== undefined) this.q.setModel.run(p.model, t, s.id);
        return sessionFromRow(this.q.byId.get(s.id) as Row);
      })
      .immediate();
  }

  /** Retire the live row of `key` (kept, still synced) and start a new empty one (label/model kept). */
  reset(key: string): { previous: Session | null; current: Session } {
    const canonical = canonicalSessionKey(key);
    return this.c.db
      .transaction(() => {
        const existing = this.q.byKey.get(canonical) as Row | null;
        const previous = existing ? sessionFromRow(existing) : null;
        if (previous) this.q.retire.run(this.c.now(), null, previous.id);
        const init: { label?: string; model?: string } = {};
        if (previous?.label) init.label = previous.label;
        if (previous?.model) init.model = previous.model;
        return { previous, current: this.insert(canonical, init) };
      })
      .immediate();
  }

  /** Retire the live row of `key` as deleted; the caller writes the tombstone in the same transaction. */
  retireDeleted(key: string): Session | null {
    const existing = this.q.byKey.get(canonicalSessionKey(key)) as Row | null;
    if (!existing) return null;
    const s = sessionFromRow(existing);
    const t = this.c.now();
    this.q.retire.run(t, t, s.id);
    return { ...s, retiredAt: t, deletedAt: t };
  }

  listRecent(limit: number): Session[] {
    return (this.q.list.all(limit) as Row[]).map(sessionFromRow);
  }
}
