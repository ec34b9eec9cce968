/**
 * chat.send attachments (protocol.schema.json: `{type?, mimeType, fileName?, content: base64}`):
 * an image and a PDF are stored with the message (SQLite, one transaction), reach the AI server as
 * image / document content parts, come back from chat.history / session.message as content blocks
 * (protocol 4; protocol 3 keeps the text only), and are queued for sync as attachment_chunk entries
 * that the sync-v1 receiver assembles and verifies. Bad input — too many, too large, unsupported
 * or lying types, broken base64 — gets a clear error naming the limit, and nothing is stored.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { MAX_ATTACHMENTS, MAX_IMAGE_BYTES } from "../../src/gateway/attachments.ts";
import { ATTACHMENT_CHUNK_BYTES } from "../../src/shared/store/index.ts";
import { pushBatch } from "../../src/sync/push.ts";
import { startSyncReceiver } from "../fakes/sync-receiver.ts";
import { waitFor } from "../helpers/index.ts";
import { connected, gatewayHarness, type RawClient } from "./helpers.ts";

const h = gatewayHarness();
const clients: RawClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

// A real 1×1 PNG, a PDF header + body, and a big PNG-signed blob for the chunking case.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);
const PDF = Buffer.from("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function client(protocol = 4): Promise<RawClient> {
  const c = await connected(h.t.wsUrl, { minProtocol: protocol, maxProtocol: protocol });
  clients.push(c);
  return c;
}

const att = (mimeType: string, data: Uint8Array, fileName?: string) => ({
  type: mimeType.startsWith("image/") ? "image" : "file",
  mimeType,
  ...(fileName ? { fileName } : {}),
  content: Buffer.from(data).toString("base64"),
});

describe("chat.send attachments", () => {
  test("an image and a PDF: stored, sent to the AI server as parts, returned as blocks, synced as chunks", async () => {
    await h.start();
    const t = h.t;
    const c = await client();
    await c.call("sessions.messages.subscribe", { key: "agent:main:main" });
    const r = await c.call("chat.send", {
      sessionKey: "agent:main:main",
      message: "what is in these",
      idempotencyKey: "a-1",
      attachments: [att("image/png", PNG, "dot.png"), att("application/pdf", PDF, "doc.pdf")],
    });
    expect(r.ok).toBe(true);
    expect((await c.terminal("a-1")).state).toBe("final");

    // The AI server got the bytes as content parts, then the text.
    const sent = h.ai.requests.at(-1)?.body.messages.at(-1);
    expect(sent).toEqual({
      role: "user",
      content: [
        { type: "image", mimeType: "image/png", data: PNG.toString("base64") },
        { type: "document", mimeType: "application/pdf", data: PDF.toString("base64"), fileName: "doc.pdf" },
        { type: "text", text: "what is in these" },
      ],
    });

    // Stored with the message: references in the content, bytes in the attachments table.
    const session = t.store.findSession("agent:main:main");
    const user = t.store.listMessages(session?.id as string)[0];
    expect(user?.content).toEqual([
      { type: "text", text: "what is in these" },
      {
        type: "image",
        attachmentId: expect.any(String),
        mimeType: "image/png",
        fileName: "dot.png",
        size: PNG.length,
        sha256: sha(PNG),
      },
      {
        type: "document",
        attachmentId: expect.any(String),
        mimeType: "application/pdf",
        fileName: "doc.pdf",
        size: PDF.length,
        sha256: sha(PDF),
      },
    ]);
    const imageId = (user?.content[1] as { attachmentId?: string } | undefined)?.attachmentId ?? "";
    expect(Buffer.from(t.store.attachmentData(imageId) ?? [])).toEqual(PNG);

    // Protocol 4 reads them back as content blocks (history and the live session.message).
    const hist = (await c.call("chat.history", { sessionKey: "agent:main:main" })).payload as {
      messages: { content: Record<string, unknown>[] }[];
    };
    expect(hist.messages[0]?.content).toEqual([
      { type: "text", text: "what is in these" },
      { type: "image", mimeType: "image/png", data: PNG.toString("base64"), fileName: "dot.png" },
      { type: "document", mimeType: "application/pdf", data: PDF.toString("base64"), fileName: "doc.pdf" },
    ]);
    const live = await waitFor(() => c.events("session.message")[0]);
    const liveContent: unknown = (live.payload as { message: { content: unknown } }).message.content;
    expect(liveContent).toEqual(hist.messages[0]?.content);
    // Protocol 3 clients keep seeing the text only.
    const p3 = await client(3);
    const hist3 = (await p3.call("chat.history", { sessionKey: "main" })).payload as {
      messages: { content: unknown[] }[];
    };
    expect(hist3.messages[0]?.content).toEqual([{ type: "text", text: "what is in these" }]);

    // Sync: the message entry carries the references; the bytes go as chunks the receiver verifies.
    const rx = await startSyncReceiver({ secret: "sync-secret-0123456789", userId: "u-1" });
    try {
      const pending = t.store.pendingOutbox(100);
      expect(pending.map((e) => e.kind)).toEqual([
        "message",
        "attachment_chunk",
        "attachment_chunk",
        "message",
      ]);
      const res = await pushBatch(
        pending,
        {
          siteUrl: rx.url,
          userId: "u-1",
          machineId: null,
          secret: "sync-secret-0123456789",
          timeoutMs: 5000,
        },
        { fetch, now: Date.now },
      );
      expect(res.outcome).toMatchObject({ kind: "ok" });
      expect(rx.quarantined.size).toBe(0);
      expect(Buffer.from(rx.files.get(imageId)?.bytes ?? [])).toEqual(PNG);
      expect(rx.files.size).toBe(2);
    } finally {
      await rx.stop();
    }
  });

  test("a large image travels as several chunks of at most 262144 bytes, reassembled exactly", async () => {
    await h.start();
    const t = h.t;
    const c = await client();
    const big = new Uint8Array(ATTACHMENT_CHUNK_BYTES * 2 + 1000);
    big.set(PNG.subarray(0, 8)); // the PNG signature; the rest is noise the type check does not read
    for (let i = 8; i < big.length; i++) big[i] = (i * 31) % 251;
    expect(
      (
        await c.call("chat.send", {
          sessionKey: "main",
          message: "big",
          idempotencyKey: "big-1",
          attachments: [att("image/png", big)],
        })
      ).ok,
    ).toBe(true);
    await c.terminal("big-1");
    const chunks = t.store.pendingOutbox(100).filter((e) => e.kind === "attachment_chunk");
    expect(chunks.map((e) => (e.kind === "attachment_chunk" ? [e.body.index, e.body.count] : []))).toEqual([
      [0, 3],
      [1, 3],
      [2, 3],
    ]);
    // Every chunk alone fits a 10^6-byte batch.
    for (const e of chunks) expect(e.bytes as number).toBeLessThan(1_000_000);
    const rx = await startSyncReceiver({ secret: "sync-secret-0123456789", userId: "u-1" });
    try {
      const target = {
        siteUrl: rx.url,
        userId: "u-1",
        machineId: null,
        secret: "sync-secret-0123456789",
        timeoutMs: 5000,
      };
      for (const e of t.store.pendingOutbox(100)) {
        expect((await pushBatch([e], target, { fetch, now: Date.now })).outcome).toMatchObject({
          kind: "ok",
        });
      }
      const id = (chunks[0]?.kind === "attachment_chunk" ? chunks[0].body.attachmentId : "") as string;
      expect(Buffer.from(rx.files.get(id)?.bytes ?? [])).toEqual(Buffer.from(big));
    } finally {
      await rx.stop();
    }
  });

  test("bad attachments: clear errors naming the limit; nothing stored; the connection still works", async () => {
    await h.start();
    const t = h.t;
    const c = await client();
    const send = (attachments: unknown[], id: string, message = "x") =>
      c.call("chat.send", { sessionKey: "main", message, idempotencyKey: id, attachments });
    const cases: [unknown[], string][] = [
      [Array(MAX_ATTACHMENTS + 1).fill(att("image/png", PNG)), `limit ${MAX_ATTACHMENTS} per message`],
      [[att("image/png", new Uint8Array(MAX_IMAGE_BYTES + 10).fill(1))], "over the 5 MiB limit for images"],
      [
        [att("image/bmp", PNG)],
        'unsupported type "image/bmp": send image/png, image/jpeg, image/gif, image/webp, application/pdf',
      ],
      [[att("text/plain", Buffer.from("hello"))], 'unsupported type "text/plain"'],
      [[att("image/jpeg", PNG)], "declared image/jpeg but the content is image/png"],
      [[att("application/pdf", Buffer.from("not a pdf at all"))], "not a recognised image or PDF"],
      [[{ mimeType: "image/png", content: "%%%not base64%%%" }], "content is not valid base64"],
      [[{ mimeType: "image/png", content: 42 }], "content must be a base64 string"],
      [[{ mimeType: "image/png", content: "" }], "content is empty"],
      [["just a string"], "must be an object"],
    ];
    let i = 0;
    for (const [attachments, message] of cases) {
      const r = await send(attachments, `bad-${i++}`);
      expect(r.ok).toBe(false);
      expect((r.error as { message: string }).message).toContain(message);
    }
    // Nothing of any of them was stored: no run, no message, no attachment, no outbox entry.
    expect(t.store.listSessions(10)).toEqual([]);
    expect(t.store.attachmentCount()).toBe(0);
    expect(t.store.pendingOutbox(100)).toEqual([]);
    for (let j = 0; j < i; j++) expect(t.store.getRun(`bad-${j}`)).toBeNull();
    // An attachment without text is fine; the connection is unaffected.
    expect((await send([att("image/png", PNG)], "ok-1", "")).ok).toBe(true);
    expect((await c.terminal("ok-1")).state).toBe("final");
  });
});
