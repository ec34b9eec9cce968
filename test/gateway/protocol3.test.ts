/**
 * A protocol-3 (Clawdbot-era) client written here with `ws`, validating EVERY frame it receives
 * strictly, as the protocol-3 client does (no extra keys anywhere it checks; hello-ok exactly the
 * spec's shape without `auth`). It connects, chats, reads history, aborts, and is refused on a
 * wrong token.
 */
import { expect, test } from "bun:test";
import WebSocket from "ws";
import { waitFor } from "../helpers/index.ts";
import { gatewayHarness, TOKEN } from "./helpers.ts";

type Obj = Record<string, unknown>;

function exactKeys(o: unknown, required: string[], optional: string[] = []): string | null {
  if (typeof o !== "object" || o === null || Array.isArray(o)) return "not an object";
  const keys = Object.keys(o);
  for (const k of required) if (!keys.includes(k)) return `missing ${k}`;
  for (const k of keys) if (!required.includes(k) && !optional.includes(k)) return `extra key ${k}`;
  return null;
}

const isInt = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;

/** Strict validation of one server frame; returns the problem or null. */
function validateFrame(f: Obj): string | null {
  if (f.type === "res") {
    const e = exactKeys(f, ["type", "id", "ok"], ["payload", "error"]);
    if (e) return `res: ${e}`;
    if (typeof f.id !== "string" || typeof f.ok !== "boolean") return "res: bad id/ok";
    if (f.error !== undefined) {
      const ee = exactKeys(f.error, ["code", "message"], ["details", "retryable", "retryAfterMs"]);
      if (ee) return `error: ${ee}`;
      const err = f.error as Obj;
      if (typeof err.message !== "string" || err.message === "") return "error: empty message";
      if (err.retryAfterMs !== undefined && !isInt(err.retryAfterMs)) return "error: retryAfterMs";
    }
    return null;
  }
  if (f.type === "event") {
    const e = exactKeys(f, ["type", "event"], ["payload", "seq", "stateVersion"]);
    if (e) return `event: ${e}`;
    if (f.seq !== undefined && !isInt(f.seq)) return "event: seq";
    if (f.event === "chat") return validateChat(f.payload as Obj);
    if (f.event === "tick") return exactKeys(f.payload, ["ts"]);
    if (f.event === "connect.challenge")
      return f.seq === undefined ? exactKeys(f.payload, ["nonce", "ts"]) : "challenge with seq";
    return null;
  }
  return `unknown frame type ${String(f.type)}`;
}

function validateChat(p: Obj): string | null {
  const base = ["runId", "sessionKey", "seq", "state"];
  const byState: Record<string, string[]> = {
    delta: ["message", "deltaText"],
    final: ["message", "usage", "stopReason"],
    aborted: ["message", "stopReason"],
    error: ["message", "errorMessage", "usage", "stopReason"], // protocol 3 has no errorKind
  };
  const allowed = byState[p.state as string];
  if (!allowed) return `chat: bad state ${String(p.state)}`;
  const e = exactKeys(p, base, allowed);
  if (e) return `chat ${String(p.state)}: ${e}`;
  if (p.message !== undefined) {
    const m = p.message as Obj;
    const me = exactKeys(m, ["role", "content", "timestamp"]);
    if (me) return `chat message: ${me}`;
  }
  return null;
}

const HELLO_KEYS = ["type", "protocol", "server", "features", "snapshot", "policy"];

function validateHello3(h: Obj): string | null {
  const e = exactKeys(h, HELLO_KEYS);
  if (e) return `hello: ${e}`;
  if (h.type !== "hello-ok" || h.protocol !== 3) return "hello: type/protocol";
  return (
    exactKeys(h.server, ["version", "connId"]) ??
    exactKeys(h.features, ["methods", "events"]) ??
    exactKeys(h.snapshot, ["presence", "health", "stateVersion", "uptimeMs"], ["sessionDefaults"]) ??
    exactKeys((h.snapshot as Obj).stateVersion, ["presence", "health"]) ??
    exactKeys(h.policy, ["maxPayload", "maxBufferedBytes", "tickIntervalMs"])
  );
}

class Proto3Client {
  frames: Obj[] = [];
  invalid: string[] = [];
  closed: { code: number; reason: string } | null = null;
  private n = 0;
  constructor(readonly ws: WebSocket) {
    ws.on("message", (d) => {
      const f = JSON.parse(d.toString()) as Obj;
      const problem = validateFrame(f);
      if (problem) this.invalid.push(`${problem}: ${d.toString().slice(0, 200)}`);
      this.frames.push(f);
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
  }
  close(): void {
    this.ws.close();
  }
  static async open(url: string) {
    const ws = new WebSocket(url);
    await new Promise<void>((r, j) => {
      ws.once("open", () => r());
      ws.once("error", j);
    });
    return new Proto3Client(ws);
  }
  async call(method: string, params: unknown): Promise<Obj> {
    const id = `p3-${++this.n}`;
    this.ws.send(JSON.stringify({ type: "req", id, method, params }));
    return waitFor(() => this.frames.find((f) => f.type === "res" && f.id === id), { what: `res ${id}` });
  }
  chat(runId: string): Obj[] {
    return this.frames
      .filter((f) => f.type === "event" && f.event === "chat")
      .map((f) => f.payload as Obj)
      .filter((p) => p.runId === runId);
  }
  /** Protocol 3 sends connect after the challenge (or after 750 ms without one). */
  async connect(token: string): Promise<Obj> {
    await waitFor(() => this.frames.find((f) => f.event === "connect.challenge"), { what: "challenge" });
    return this.call("connect", {
      minProtocol: 3,
      maxProtocol: 3,
      client: { id: "clawdbot-control-ui", version: "2026.1.0", platform: "web", mode: "webchat" },
      role: "operator",
      scopes: ["operator.admin"],
      caps: [],
      auth: { token },
      locale: "en-US",
      userAgent: "clawdbot-test",
    });
  }
}

const h = gatewayHarness();

test("protocol 3: strict frames through connect, chat, history and abort", async () => {
  const t = await h.start();
  const c = h.track(await Proto3Client.open(t.wsUrl));
  const hello = await c.connect(TOKEN);
  expect(hello.ok).toBe(true);
  expect(validateHello3(hello.payload as Obj)).toBeNull();

  expect(
    (await c.call("chat.send", { sessionKey: "main", message: "p3 hi", idempotencyKey: "p3-run" })).payload,
  ).toEqual({
    runId: "p3-run",
    status: "started",
  });
  const fin = await waitFor(() => c.chat("p3-run").find((p) => p.state === "final"), { what: "final" });
  // Protocol 3 reads the cumulative text of each delta.
  const deltas = c.chat("p3-run").filter((p) => p.state === "delta");
  const last = deltas.at(-1)?.message as { content: { text: string }[] };
  expect("You said: p3 hi. w1 w2 w3 w4 w5".startsWith(last.content[0]?.text ?? "x")).toBe(true);
  expect((fin.message as { content: { text: string }[] }).content[0]?.text).toBe(
    "You said: p3 hi. w1 w2 w3 w4 w5",
  );
  // Protocol 3's final message stays as it was: no protocol-4 transcript meta.
  expect(Object.keys(fin.message as Obj).sort()).toEqual(["content", "role", "timestamp"]);

  const hist = (await c.call("chat.history", { sessionKey: "agent:main:main", limit: 2 })).payload as {
    messages: Obj[];
  };
  expect(hist.messages.map((m) => m.role)).toEqual(["user", "assistant"]);

  await c.call("chat.send", { sessionKey: "main", message: "[slow] p3 long", idempotencyKey: "p3-ab" });
  await waitFor(() => c.chat("p3-ab").length > 1, { what: "deltas" });
  expect((await c.call("chat.abort", { sessionKey: "main" })).payload).toEqual({
    ok: true,
    aborted: true,
    runIds: ["p3-ab"],
  });
  await waitFor(() => c.chat("p3-ab").find((p) => p.state === "aborted"), { what: "aborted" });

  // An error run: protocol 3 gets no errorKind (strict validation would drop the frame).
  await c.call("chat.send", { sessionKey: "main", message: "[error_after:2] p3", idempotencyKey: "p3-err" });
  const err = await waitFor(() => c.chat("p3-err").find((p) => p.state === "error"), { what: "error" });
  expect(err.errorMessage).toBe("provider failed mid-stream");
  expect("errorKind" in err).toBe(false);

  // History shows how those turns ended, in content blocks (issue 11 finding 1), strictly valid.
  const ended = (await c.call("chat.history", { sessionKey: "main" })).payload as { messages: Obj[] };
  const tail = ended.messages.slice(-4) as {
    role: string;
    stopReason?: string;
    content: { text: string }[];
  }[];
  expect(tail.map((m) => `${m.role}:${m.stopReason ?? ""}`)).toEqual([
    "user:",
    "assistant:aborted",
    "user:",
    "assistant:error",
  ]);
  expect(tail[1]?.content.at(-1)?.text).toBe("⏹ Stopped by the user.");
  expect(tail[3]?.content.at(-1)?.text).toBe("⚠ Reply failed: provider failed mid-stream");

  expect(c.invalid).toEqual([]);
  const seqs = c.frames.filter((f) => f.type === "event" && f.seq !== undefined).map((f) => f.seq);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
});

test("protocol 3: a wrong token gets a strict error response and close 1008", async () => {
  const t = await h.start();
  const c = h.track(await Proto3Client.open(t.wsUrl));
  const res = await c.connect("wrong-token-x");
  expect(res.ok).toBe(false);
  expect((res.error as Obj).message).toBe("unauthorized: gateway token mismatch");
  expect((await waitFor(() => c.closed)).code).toBe(1008);
  expect(c.invalid).toEqual([]);
});
