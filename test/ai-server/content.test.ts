/**
 * Images, PDFs and structured output on every provider prefix: what the caller sends (OpenAI
 * image_url / file parts, /chat image / document parts, data and URLs) reaches each upstream as
 * its native block; the simulator describes what it received. Structured output through the AI
 * SDK's `generateObject` (zod) and the openai SDK's json modes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateObject } from "ai";
import { z } from "zod";
import { postChat } from "./harness.ts";
import {
  PDF_B64,
  PNG_B64,
  PROVIDERS,
  type Surface,
  startSurface,
  TOKEN,
  upstreamBody,
  type Wire,
} from "./surface-helpers.ts";

let s: Surface;
beforeAll(async () => {
  s = await startSurface();
});
afterAll(() => s.stop());
afterEach(() => s.sim.reset());

const auth = { authorization: `Bearer ${TOKEN}` };
const pdfBytes = Buffer.from(PDF_B64, "base64").byteLength;

/** The upstream's image and document blocks of the last user message, normalised. */
function nativeMedia(
  provider: string,
  body: Wire,
): { kind: string; type?: string; data?: string; url?: string }[] {
  if (provider === "anthropic")
    return body.messages
      .at(-1)
      .content.filter((b: Wire) => b.type === "image" || b.type === "document")
      .map((b: Wire) => ({
        kind: b.type,
        type: b.source.media_type,
        data: b.source.data,
        url: b.source.url,
      }));
  if (provider === "openai")
    return body.messages
      .at(-1)
      .content.filter((p: Wire) => p.type !== "text")
      .map((p: Wire) =>
        p.type === "image_url"
          ? { kind: "image", url: p.image_url.url }
          : { kind: "document", url: p.file.file_data },
      );
  return body.contents
    .at(-1)
    .parts.filter((p: Wire) => p.inlineData)
    .map((p: Wire) => ({
      kind: p.inlineData.mimeType,
      type: p.inlineData.mimeType,
      data: p.inlineData.data,
    }));
}

describe.each(PROVIDERS)("%s/", (provider) => {
  const model = `${provider}/sim`;

  test("openai SDK: an image and a PDF as data reach the upstream natively", async () => {
    const r = await s.openai.chat.completions.create({
      model,
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "what is this" },
            { type: "image_url", image_url: { url: `data:image/png;base64,${PNG_B64}` } },
            {
              type: "file",
              file: { filename: "a.pdf", file_data: `data:application/pdf;base64,${PDF_B64}` },
            },
          ],
        },
      ],
    });
    expect(r.choices[0]?.message.content).toContain(
      `I see image/png, 68 bytes; application/pdf, ${pdfBytes} bytes.`,
    );
    const media = nativeMedia(provider, upstreamBody(s.sim, provider));
    if (provider === "openai")
      expect(media).toEqual([
        { kind: "image", url: `data:image/png;base64,${PNG_B64}` },
        { kind: "document", url: `data:application/pdf;base64,${PDF_B64}` },
      ]);
    else {
      expect(media.map((m) => [m.type, m.data])).toEqual([
        ["image/png", PNG_B64],
        ["application/pdf", PDF_B64],
      ]);
    }
  });

  test("/chat: an image by URL (Gemini: fetched and inlined)", async () => {
    const url = `${s.sim.url}/files/pixel.png`;
    const res = await postChat(
      s.server.url,
      {
        model,
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "look" },
              { type: "image", url },
            ],
          },
        ],
      },
      auth,
    );
    expect(res.status).toBe(200);
    const media = nativeMedia(provider, upstreamBody(s.sim, provider));
    if (provider === "google")
      expect(media).toEqual([{ kind: "image/png", type: "image/png", data: PNG_B64 }]);
    else expect(media[0]?.url).toBe(url);
  });

  test("Vercel AI SDK: generateObject with a zod schema", async () => {
    const pipbot = createOpenAICompatible({
      name: "pipbot",
      baseURL: `${s.server.url}/v1`,
      apiKey: TOKEN,
      supportsStructuredOutputs: true,
    });
    const schema = z.object({ city: z.string(), temperature: z.number(), sunny: z.boolean() });
    const { object } = await generateObject({
      model: pipbot(model),
      schema,
      prompt: "Weather in Paris as JSON",
    });
    expect(object).toEqual({ city: "Paris", temperature: 1.5, sunny: true });
    const body = upstreamBody(s.sim, provider);
    if (provider === "anthropic")
      expect(body.output_config.format.schema.properties.city).toEqual({ type: "string" });
    if (provider === "openai") {
      expect(body.response_format.type).toBe("json_schema");
      expect(body.response_format.json_schema.schema.properties.sunny).toEqual({ type: "boolean" });
    }
    if (provider === "google") {
      expect(body.generationConfig.responseMimeType).toBe("application/json");
      expect(body.generationConfig.responseJsonSchema.properties.temperature).toEqual({ type: "number" });
    }
  });

  test("openai SDK: json_object mode returns JSON as the message text", async () => {
    const r = await s.openai.chat.completions.create({
      model,
      messages: [{ role: "user", content: "reply in json please" }],
      response_format: { type: "json_object" },
    });
    expect(JSON.parse(r.choices[0]?.message.content ?? "")).toEqual({
      reply: "You said: reply in json please",
    });
    expect(r.choices[0]?.finish_reason).toBe("stop");
    const body = upstreamBody(s.sim, provider);
    // Anthropic has no schema-less JSON mode: a forced single tool carries it.
    if (provider === "anthropic") expect(body.tool_choice).toEqual({ type: "tool", name: "json_response" });
    if (provider === "openai") expect(body.response_format).toEqual({ type: "json_object" });
    if (provider === "google") expect(body.generationConfig.responseMimeType).toBe("application/json");
  });
});

describe("media limits and types", () => {
  const send = (content: unknown, model = "anthropic/sim") =>
    s.openai.chat.completions
      .create({ model, messages: [{ role: "user", content } as never] })
      .catch((e) => e);

  test("an unsupported image type, a non-PDF file, bytes that are not the declared type → 400 naming it", async () => {
    const bmp = await send([{ type: "image_url", image_url: { url: "data:image/bmp;base64,Qk0=" } }]);
    expect(bmp.status).toBe(400);
    expect(bmp.message).toContain('image type "image/bmp" is not supported');
    const txt = await send([{ type: "file", file: { file_data: "data:text/plain;base64,aGk=" } }]);
    expect(txt.status).toBe(400);
    expect(txt.message).toContain('file type "text/plain" is not supported');
    const fake = await send([{ type: "image_url", image_url: { url: `data:image/jpeg;base64,${PNG_B64}` } }]);
    expect(fake.status).toBe(400);
    expect(fake.message).toContain("data is not a image/jpeg file");
    expect(s.sim.requests).toHaveLength(0);
  });

  test("over the provider's size limit, a PDF URL to OpenAI, an image to a text-only model → 400 naming provider", async () => {
    const big = `iVBORw0KGgo${"A".repeat(7 * 1024 * 1024)}`;
    const res = await fetch(`${s.server.url}/chat`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({
        model: "anthropic/sim",
        messages: [{ role: "user", content: [{ type: "image", mimeType: "image/png", data: big }] }],
      }),
    });
    // The whole body is over AI_MAX_BODY_BYTES here (1 MiB in tests): 413 before any provider limit.
    expect(res.status).toBe(413);
    const pdfUrl = await postChat(
      s.server.url,
      {
        model: "openai/sim",
        messages: [
          {
            role: "user",
            content: [{ type: "document", mimeType: "application/pdf", url: "https://x.test/a.pdf" }],
          },
        ],
      },
      auth,
    );
    expect(pdfUrl.status).toBe(400);
    expect(((await pdfUrl.json()) as Wire).error.message).toContain(
      "document is not supported by openai/sim",
    );
    const textOnly = await send(
      [{ type: "image_url", image_url: { url: `data:image/png;base64,${PNG_B64}` } }],
      "openai/gpt-3.5-turbo",
    );
    expect(textOnly.status).toBe(400);
    expect(textOnly.message).toContain("model gpt-3.5-turbo takes text only");
    expect(s.sim.requests).toHaveLength(0);
  });
});
