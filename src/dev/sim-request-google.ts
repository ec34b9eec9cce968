/**
 * Upstream simulator: a Gemini generateContent body read into the simulator's `SimRequest`, with
 * Gemini's own 400s for what our translation could get wrong: function calls sent back without
 * their thought signature, and function responses without a name.
 */
import { arr, BadRequest, describe, isObj, type Json, type SimRequest, textOf } from "./sim-request.ts";

export function parseGoogle(body: Json, model: string, stream: boolean): SimRequest {
  const contents = arr(body.contents).filter(isObj);
  if (contents.length === 0)
    throw new BadRequest(400, "* GenerateContentRequest.contents: contents is not specified");
  contents.forEach((c, i) => {
    arr(c.parts)
      .filter(isObj)
      .forEach((p, j) => {
        if (c.role === "model" && isObj(p.functionCall) && typeof p.thoughtSignature !== "string")
          throw new BadRequest(
            400,
            `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call \`default_api:${String(p.functionCall.name)}\` , position ${i + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`,
          );
        if (isObj(p.functionResponse) && typeof p.functionResponse.name !== "string")
          throw new BadRequest(
            400,
            `* GenerateContentRequest.contents[${i}].parts[${j}].function_response.name: Name cannot be empty.`,
          );
      });
  });
  const last = [...contents].reverse().find((c) => c.role === undefined || c.role === "user");
  const parts = arr(last?.parts).filter(isObj);
  const gc = isObj(body.generationConfig) ? body.generationConfig : {};
  const fcc =
    isObj(body.toolConfig) && isObj(body.toolConfig.functionCallingConfig)
      ? body.toolConfig.functionCallingConfig
      : {};
  const allowed = arr(fcc.allowedFunctionNames);
  const out: SimRequest = {
    model,
    stream,
    ...(typeof gc.maxOutputTokens === "number" ? { maxTokens: gc.maxOutputTokens } : {}),
    includeUsage: false,
    lastUser: textOf(parts),
    inputChars:
      contents.reduce((n, c) => n + textOf(c.parts).length, 0) +
      textOf(isObj(body.systemInstruction) ? body.systemInstruction.parts : undefined).length,
    media: parts.flatMap((p) =>
      isObj(p.inlineData)
        ? [describe(String(p.inlineData.mimeType), p.inlineData.data)]
        : isObj(p.fileData)
          ? [describe(String(p.fileData.mimeType), undefined, p.fileData.fileUri)]
          : [],
    ),
    toolResults: parts.flatMap((p) =>
      isObj(p.functionResponse)
        ? [
            {
              name: String(p.functionResponse.name),
              content: JSON.stringify(p.functionResponse.response ?? {}),
            },
          ]
        : [],
    ),
    tools: arr(body.tools)
      .filter(isObj)
      .flatMap((t) => arr(t.functionDeclarations).filter(isObj))
      .map((f) => ({
        name: String(f.name),
        schema: isObj(f.parametersJsonSchema)
          ? f.parametersJsonSchema
          : isObj(f.parameters)
            ? f.parameters
            : {},
      })),
    toolChoice:
      fcc.mode === "NONE"
        ? "none"
        : fcc.mode === "ANY"
          ? allowed.length === 1
            ? { name: String(allowed[0]) }
            : "required"
          : "auto",
    thinking: isObj(gc.thinkingConfig) && gc.thinkingConfig.includeThoughts === true,
  };
  if (gc.responseMimeType === "application/json") {
    const schema = gc.responseJsonSchema ?? gc.responseSchema;
    out.json = isObj(schema) ? { schema } : {};
  }
  return out;
}
