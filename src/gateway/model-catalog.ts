/**
 * The models this VM can really use: the AI server's `GET /v1/models` (default first, then
 * fallbacks and AI_MODELS), cached briefly. The gateway's AI_DEFAULT_MODEL, when set, is the
 * default; otherwise the AI server's first entry is.
 */
export interface CatalogModel {
  /** `provider/model` as the AI server lists it. */
  id: string;
  provider: string;
  isDefault: boolean;
}

export type CatalogResult =
  | { ok: true; models: CatalogModel[]; defaultModel: string | undefined }
  | { ok: false; error: string };

export interface ModelCatalog {
  list(opts?: { refresh?: boolean }): Promise<CatalogResult>;
  /** The default model of the last successful list (synchronous, for rows). */
  lastDefault(): string | undefined;
}

export interface ModelCatalogOptions {
  baseUrl: string;
  token?: string | undefined;
  defaultModel?: string | undefined;
  fetch?: typeof fetch;
  now?: () => number;
  ttlMs?: number;
  /** Called when a list differs from the previous successful one (chat.metadata.changed). */
  onChange?: () => void;
}

export function createModelCatalog(o: ModelCatalogOptions): ModelCatalog {
  const doFetch = o.fetch ?? fetch;
  const now = o.now ?? Date.now;
  const ttl = o.ttlMs ?? 30_000;
  const base = o.baseUrl.replace(/\/+$/, "");
  let cached: { at: number; value: CatalogResult } | undefined;
  let inflight: Promise<CatalogResult> | undefined;

  const load = async (): Promise<CatalogResult> => {
    try {
      const res = await doFetch(`${base}/v1/models`, {
        headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
        signal: AbortSignal.timeout(3000),
      });
      if (!res.ok) return { ok: false, error: `AI server /v1/models answered HTTP ${res.status}` };
      const body = (await res.json()) as { data?: { id?: unknown; owned_by?: unknown }[] };
      const data = Array.isArray(body.data) ? body.data : [];
      const ids = data.flatMap((m) => (typeof m.id === "string" && m.id ? [m] : []));
      const defaultModel = o.defaultModel ?? (ids[0]?.id as string | undefined);
      const models = ids.map((m) => {
        const id = m.id as string;
        const provider =
          typeof m.owned_by === "string" && m.owned_by ? m.owned_by : (id.split("/")[0] ?? "unknown");
        return { id, provider, isDefault: id === defaultModel || id.endsWith(`/${defaultModel}`) };
      });
      return { ok: true, models, defaultModel };
    } catch (e) {
      return {
        ok: false,
        error:
          e instanceof Error && e.name === "TimeoutError" ? "AI server timed out" : "AI server unreachable",
      };
    }
  };

  return {
    async list(opts = {}) {
      if (!opts.refresh && cached && now() - cached.at < ttl) return cached.value;
      inflight ??= load().finally(() => {
        inflight = undefined;
      });
      const value = await inflight;
      if (value.ok) {
        const before = cached?.value.ok ? JSON.stringify(cached.value) : undefined;
        cached = { at: now(), value };
        if (before !== undefined && before !== JSON.stringify(value)) o.onChange?.();
      }
      return value;
    },
    lastDefault: () => (cached?.value.ok ? cached.value.defaultModel : o.defaultModel),
  };
}
