/**
 * google/ images and PDFs by URL: Gemini takes no arbitrary URL, so the AI server fetches and
 * inlines them. As an app developer meets that through the openai SDK: a redirect is followed; a
 * body over Gemini's limit is refused as soon as the limit is passed (the AI server does not buffer
 * an endless or huge body until the fetch timeout); a wrong type is refused without reading the body.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { postChat } from "./harness.ts";
import { PNG_B64, type Surface, startSurface, TOKEN, upstreamBody } from "./surface-helpers.ts";

const MIB = 1024 * 1024;
let s: Surface;
let media: ReturnType<typeof Bun.serve>;
/** Bytes the media server handed out for each path. */
const served = new Map<string, number>();

/** A body of `chunks` MiB that then stays open (never ends), counting what was read. */
function endless(path: string, type: string, chunks: number): Response {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= chunks) return new Promise<void>(() => {}); // held open
      sent++;
      served.set(path, sent * MIB);
      c.enqueue(new Uint8Array(MIB));
    },
  });
  return new Response(body, { headers: { "content-type": type } });
}

beforeAll(async () => {
  s = await startSurface();
  media = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/moved.png") return Response.redirect("/pixel.png", 302);
      if (path === "/pixel.png")
        return new Response(Buffer.from(PNG_B64, "base64"), { headers: { "content-type": "image/png" } });
      if (path === "/login.png")
        return new Response("<html>please log in</html>", { headers: { "content-type": "image/png" } });
      if (path === "/login")
        return new Response("<html>please log in</html>", { headers: { "content-type": "text/html" } });
      if (path === "/huge.png") return endless(path, "image/png", 21);
      if (path === "/page.png") return endless(path, "text/html", 64);
      return new Response("no", { status: 404 });
    },
  });
});
afterAll(async () => {
  await media.stop(true);
  await s.stop();
});
afterEach(() => s.sim.reset());

const ask = (url: string, stream = false) =>
  s.openai.chat.completions.create({
    model: "google/sim",
    stream: stream as false,
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "what is this?" },
          { type: "image_url", image_url: { url } },
        ],
      },
    ],
  });

describe("google/ image URLs fetched and inlined", () => {
  test("a redirect is followed and the final image inlined", async () => {
    const r = await ask(`http://127.0.0.1:${media.port}/moved.png`);
    expect(r.choices[0]?.finish_reason).toBe("stop");
    const parts = upstreamBody(s.sim, "google").contents[0].parts;
    expect(parts[1]).toEqual({ inlineData: { mimeType: "image/png", data: PNG_B64 } });
  });

  test("a body over Gemini's 20 MiB limit is a 400 as soon as the limit is passed (not buffered to the timeout)", async () => {
    const err = await ask(`http://127.0.0.1:${media.port}/huge.png`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toContain("over Gemini's limit");
    expect(s.sim.requests).toHaveLength(0);
  });

  test("a body of the wrong type is a 400 naming the type, read no further than its first bytes", async () => {
    const err = await ask(`http://127.0.0.1:${media.port}/page.png`, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toContain('has type "text/html"');
    expect(served.get("/page.png") ?? 0).toBeLessThan(64 * MIB);
  });

  test("bytes that are not what the type says (a login page labelled image/png) are a 400, not sent to Gemini", async () => {
    const err = await ask(`http://127.0.0.1:${media.port}/login.png`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toContain("is not a image/png file");
    expect(s.sim.requests).toHaveLength(0);
  });

  test("/chat: a document URL declared application/pdf that serves HTML is a 400 naming the URL", async () => {
    const url = `http://127.0.0.1:${media.port}/login`;
    const res = await postChat(
      s.server.url,
      {
        model: "google/sim",
        messages: [{ role: "user", content: [{ type: "document", mimeType: "application/pdf", url }] }],
      },
      { authorization: `Bearer ${TOKEN}` },
    );
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toContain(url);
    expect(s.sim.requests).toHaveLength(0);
  });
});
