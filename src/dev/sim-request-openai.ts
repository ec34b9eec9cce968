/**
 * Upstream simulator: an OpenAI Chat Completions body read into the simulator's `SimRequest`, with
 * OpenAI's own 400s for what our translation could get wrong: tool messages without their
 * assistant tool_calls (or calls left unanswered), and JSON mode without the word "json".
 */
import { arr, BadRequest, describe, isObj, type Json, type SimRequest, textOf } from "./sim-request.ts";

export function parseOpenAI(body: Json): SimRequest {
  if (typeof body.model !== "string") throw new BadRequest(400, "you must provide a model parameter");
  const msgs = arr(body.messages).filter(isObj);
  if (msgs.length === 0) throw new BadRequest(400, "'messages' must contain at least one message");
  const names = new Map<string, string>();
  let open = new Set<string>();
  msgs.forEach((m, i) => {
    if (m.role === "tool") {
      if (!open.has(String(m.tool_call_id)))
        throw new BadRequest(
          400,
          `Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.`,
        );
      open.delete(String(m.tool_call_id));
      return;
    }
    if (open.size > 0)
      throw new BadRequest(
        400,
        `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...open].join(", ")} (messages.${i})`,
      );
    open = new Set();
    for (const t of arr(m.tool_calls).filter(isObj)) {
      open.add(String(t.id));
      if (isObj(t.function)) names.set(String(t.id), String(t.function.name));
    }
  });
  const rf = isObj(body.response_format) ? body.response_format : undefined;
  if (rf?.type === "json_object" && !msgs.some((m) => /json/i.test(textOf(m.content))))
    throw new BadRequest(
      400,
      "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
    );
  // The last user turn: the user message, or the tool results after the last assistant message.
  let tail = msgs.length;
  while (tail > 0 && msgs[tail - 1]?.role === "tool") tail--;
  const toolResults = msgs
    .slice(tail)
    .map((m) => ({ name: names.get(String(m.tool_call_id)) ?? "?", content: textOf(m.content) }));
  const last = [...msgs].reverse().find((m) => m.role === "user");
  const media = arr(last?.content)
    .filter(isObj)
    .flatMap((p) => {
      if (p.type === "image_url" && isObj(p.image_url)) {
        const url = String(p.image_url.url);
        const d = /^data:([^;]+);base64,(.*)$/s.exec(url);
        return [d ? describe(d[1] ?? "", d[2]) : describe("image", undefined, url)];
      }
      if (p.type === "file" && isObj(p.file)) {
        const d = /^data:([^;]+);base64,(.*)$/s.exec(String(p.file.file_data ?? ""));
        return [describe(d?.[1] ?? "file", d?.[2])];
      }
      return [];
    });
  const max = body.max_completion_tokens ?? body.max_tokens;
  const so = isObj(body.stream_options) ? body.stream_options : {};
  const tc = body.tool_choice;
  const out: SimRequest = {
    model: body.model,
    stream: body.stream === true,
    ...(typeof max === "number" ? { maxTokens: max } : {}),
    includeUsage: so.include_usage === true,
    lastUser: toolResults.length ? "" : textOf(last?.content),
    inputChars: msgs.reduce((n, m) => n + textOf(m.content).length, 0),
    media: toolResults.length ? [] : media,
    toolResults,
    tools: arr(body.tools)
      .filter(isObj)
      .map((t) => (isObj(t.function) ? t.function : {}))
      .map((f) => ({ name: String(f.name), schema: isObj(f.parameters) ? f.parameters : {} })),
    toolChoice:
      tc === "none" || tc === "required"
        ? tc
        : isObj(tc) && isObj(tc.function)
          ? { name: String(tc.function.name) }
          : "auto",
    thinking: typeof body.reasoning_effort === "string" && body.reasoning_effort !== "none",
  };
  if (rf?.type === "json_object") out.json = {};
  if (rf?.type === "json_schema" && isObj(rf.json_schema))
    out.json = { schema: isObj(rf.json_schema.schema) ? rf.json_schema.schema : {} };
  return out;
}
