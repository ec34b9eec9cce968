/**
 * `GET /v1/models` and `GET /v1/models/{id}`: the models pipbot lists (default, fallbacks,
 * AI_EXTRA_MODELS), in the shape of the SDK asking — OpenAI's (`client.models.list()` /
 * `retrieve()`) or, when the request carries `anthropic-version` (`@anthropic-ai/sdk`), Anthropic's
 * (`{data, has_more, first_id, last_id}` of `{type:"model", id, display_name, created_at}`).
 * Any model id of a configured provider can still be used in a request: the list is what pipbot
 * was configured with, not everything the providers serve.
 */
import type { Provider } from "../shared/chat-api.ts";
import { PipbotError } from "../shared/errors.ts";
import type { ModelRef } from "./models.ts";

const EPOCH = "1970-01-01T00:00:00Z";

const anthropicWire = (req: Request) => req.headers.has("anthropic-version");

function openaiModel(m: ModelRef) {
  return { id: m.id, object: "model", created: 0, owned_by: m.provider as Provider };
}

function anthropicModel(m: ModelRef) {
  return { type: "model", id: m.id, display_name: m.id, created_at: EPOCH };
}

export function modelsList(req: Request, models: ModelRef[]): Response {
  if (!anthropicWire(req)) return Response.json({ object: "list", data: models.map(openaiModel) });
  return Response.json({
    data: models.map(anthropicModel),
    has_more: false,
    first_id: models[0]?.id ?? null,
    last_id: models.at(-1)?.id ?? null,
  });
}

/** One listed model; an id that is not listed is a 404 naming the list (it may still be used). */
export function oneModel(req: Request, models: ModelRef[], id: string): Response {
  const m = models.find((x) => x.id === id || x.model === id);
  if (!m)
    throw new PipbotError(
      "not_found",
      `model "${id}" is not among the listed models (${models.map((x) => x.id).join(", ") || "none"}): GET /v1/models lists them; any model id of a configured provider can still be used in a request`,
    );
  return Response.json(anthropicWire(req) ? anthropicModel(m) : openaiModel(m));
}
