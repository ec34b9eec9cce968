/**
 * Calls to the Convex usage proxy as each provider's SDK makes them (paths, bodies, credential and
 * identity headers), for the proxy test files.
 */
import type { TestConvex } from "./setup.ts";
import { SERVICE_TOKEN, USER } from "./setup.ts";

export type P = "anthropic" | "openai" | "google";
export const PATHS: Record<P, (model: string, stream: boolean) => string> = {
  anthropic: () => "/llm/anthropic/v1/messages",
  openai: () => "/llm/openai/v1/chat/completions",
  google: (m, s) =>
    `/llm/google/v1beta/models/${m}:${s ? "streamGenerateContent?alt=sse" : "generateContent"}`,
};
export function body(
  p: P,
  model: string,
  stream: boolean,
  text = "hi there, a prompt of some ten words or so",
) {
  if (p === "anthropic")
    return { model, max_tokens: 100, stream, messages: [{ role: "user", content: text }] };
  if (p === "openai")
    return {
      model,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
      messages: [{ role: "user", content: text }],
    };
  return { contents: [{ role: "user", parts: [{ text }] }] };
}
export function call(
  t: TestConvex,
  p: P,
  model: string,
  opts: { stream?: boolean; requestId?: string; token?: string; user?: string } = {},
) {
  const token = opts.token ?? SERVICE_TOKEN;
  const stream = opts.stream ?? false;
  return t.fetch(PATHS[p](model, stream), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(p === "google" ? { "x-goog-api-key": token } : { authorization: `Bearer ${token}` }),
      ...(p === "anthropic" ? { "anthropic-version": "2023-06-01" } : {}),
      "x-pipbot-service-token": token,
      "x-pipbot-user-id": opts.user ?? USER,
      "x-pipbot-request-id": opts.requestId ?? crypto.randomUUID(),
      "x-pipbot-machine-id": "m-1",
      "x-pipbot-conversation-id": "sess-1",
    },
    body: JSON.stringify(body(p, model, stream)),
  });
}
