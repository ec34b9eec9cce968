/**
 * `models.list` (the AI server's models, default marked) and `models.authStatus` (which providers
 * this VM can use: their names only — a key never leaves the AI server).
 */
import { z } from "zod";
import { PipbotError } from "../../shared/errors.ts";
import type { MethodContext } from "../methods.ts";
import { splitModelId } from "../session-rows.ts";
import { parseParams } from "./params.ts";

const PROVIDER_NAMES: Record<string, string> = {
  anthropic: "Anthropic",
  openai: "OpenAI",
  google: "Google",
};

const listParams = z.looseObject({
  agentId: z.string().optional(),
  view: z.enum(["default", "configured", "provider-config", "all"]).optional(),
  refresh: z.boolean().optional(),
});
const authParams = z.looseObject({ refresh: z.boolean().optional(), agentId: z.string().optional() });

async function catalog(ctx: MethodContext, refresh: boolean) {
  const r = await ctx.models.list({ refresh });
  if (!r.ok)
    throw new PipbotError("unavailable", `models unavailable: ${r.error}`, {
      retryable: true,
      retryAfterMs: 2000,
    });
  return r;
}

export const MODEL_METHODS = {
  "models.list": async (ctx: MethodContext, raw: unknown) => {
    const p = parseParams("models.list", listParams, raw);
    const r = await catalog(ctx, p.refresh === true);
    const models = r.models.map((m) => {
      const { model } = splitModelId(m.id);
      return {
        id: model,
        name: m.isDefault ? `${model} (default)` : model,
        provider: m.provider,
        ...(m.isDefault ? { tags: ["default"] } : {}),
        available: true,
        input: ["text" as const, "image" as const, "document" as const],
      };
    });
    const providers = [...new Set(r.models.map((m) => m.provider))];
    return {
      models,
      providerOutcomes: providers.map((provider) => ({ provider, status: "ready" as const })),
    };
  },
  "models.authStatus": async (ctx: MethodContext, raw: unknown) => {
    const p = parseParams("models.authStatus", authParams, raw);
    const r = await catalog(ctx, p.refresh === true);
    const providers = [...new Set(r.models.map((m) => m.provider))].map((provider) => ({
      provider,
      authProvider: provider,
      displayName: PROVIDER_NAMES[provider] ?? provider,
      status: "static",
      profiles: [],
    }));
    return { ts: ctx.now(), providers };
  },
};
