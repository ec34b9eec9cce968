/** proxy-v1: every SDK goes through the (fake) Convex usage proxy with the contract's headers. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { UpstreamSettings } from "../../src/ai-server/providers/index.ts";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { type FakeConvexProxy, startFakeConvexProxy } from "../fakes/convex-proxy.ts";
import { waitFor } from "../helpers/index.ts";
import { parseSse, postChat, startTestAiServer, type TestAiServer, uniqueKey } from "./harness.ts";

const SERVICE_TOKEN = "svc-token-0123456789";
const USER = "user_2abcdef";
// A second user's VM calling the shared AI server with its own provisioned values.
const VM_USER = "user_2vmcaller";
const VM_TOKEN = "svc-token-vm-caller-987654";
const AI_TOKEN = "ai-server-token-0123456789";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let sim: UpstreamSim;
let proxy: FakeConvexProxy;
let s: TestAiServer;
// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary JSON bodies
type Json = Record<string, any>;

const proxyUpstream = (token = SERVICE_TOKEN): UpstreamSettings => ({
  proxy: { siteUrl: proxy.url, serviceToken: token, userId: USER, machineId: "machine-42" },
  keys: {},
  baseUrls: {},
});

beforeAll(async () => {
  sim = await startUpstreamSim();
  proxy = await startFakeConvexProxy({
    upstream: sim.url,
    serviceToken: SERVICE_TOKEN,
    userId: USER,
    users: { [VM_USER]: VM_TOKEN },
  });
  s = await startTestAiServer(sim, { maxRetries: 2 }, proxyUpstream());
});
afterAll(async () => {
  await s.stop();
  await proxy.stop();
  await sim.stop();
});
afterEach(() => {
  proxy.requests.length = 0;
  sim.reset();
});

describe("proxy-v1 headers", () => {
  for (const provider of ["anthropic", "openai", "google"] as const)
    for (const stream of [false, true])
      test(`${provider} ${stream ? "stream" : "non-stream"} carries the contract headers`, async () => {
        const res = await postChat(s.url, {
          model: `${provider}/sim@tokens=2`,
          stream,
          metadata: { conversationId: "sess-9" },
          messages: [{ role: "user", content: "via proxy" }],
        });
        expect(res.status).toBe(200);
        const text = await res.text();
        if (stream) expect(parseSse(text).events.at(-1)?.event).toBe("done");
        else expect((JSON.parse(text) as Json).message.content[0].text).toBe("You said: via proxy. w1");
        expect(proxy.requests).toHaveLength(1);
        const r = proxy.requests[0]!;
        expect(r.rejected).toBeUndefined();
        expect(r.provider).toBe(provider);
        expect(r.requestId).toMatch(UUID);
        expect(r.userId).toBe(USER);
        expect(r.machineId).toBe("machine-42");
        expect(r.conversationId).toBe("sess-9");
        expect(res.headers.get("x-pipbot-request-id")).toBe(r.requestId);
        // the SDK credential is the service token
        const h = sim.requests[0]!.headers;
        if (provider === "google") expect(h["x-goog-api-key"]).toBe(SERVICE_TOKEN);
        else expect(h.authorization).toBe(`Bearer ${SERVICE_TOKEN}`);
      });

  test("openai streams always ask for include_usage", async () => {
    await (
      await postChat(s.url, { model: "openai/sim", stream: true, messages: [{ role: "user", content: "u" }] })
    ).text();
    expect((sim.requests[0]!.body as Json).stream_options).toEqual({ include_usage: true });
  });
});

describe("one request id per logical request", () => {
  test("the same id on every retry", async () => {
    const key = uniqueKey();
    const res = await postChat(s.url, {
      model: `anthropic/sim@status=529,retry_after_ms=5,fail_times=2,key=${key}`,
      messages: [{ role: "user", content: "r" }],
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).attempts).toBe(3);
    expect(proxy.requests.map((r) => r.status)).toEqual([529, 529, 200]);
    const ids = new Set(proxy.requests.map((r) => r.requestId));
    expect(ids.size).toBe(1);
  });

  test("the same id across fallbacks to other providers; a new id for the next request", async () => {
    const res = await postChat(s.url, {
      model: "openai/sim@status=503,retry_after_ms=1",
      fallbacks: ["google/sim@tokens=1"],
      stream: true,
      messages: [{ role: "user", content: "f" }],
    });
    expect(parseSse(await res.text()).events.at(-1)?.event).toBe("done");
    expect(proxy.requests.map((r) => r.provider)).toEqual(["openai", "openai", "openai", "google"]);
    expect(new Set(proxy.requests.map((r) => r.requestId)).size).toBe(1);
    const first = proxy.requests[0]!.requestId;
    await (
      await postChat(s.url, { model: "google/sim@tokens=1", messages: [{ role: "user", content: "n" }] })
    ).text();
    expect(proxy.requests.at(-1)!.requestId).not.toBe(first);
  });
});

test("without FLY_MACHINE_ID or a conversation id those headers are absent; secrets never reach the logs", async () => {
  const plain = await startTestAiServer(
    sim,
    {},
    {
      proxy: { siteUrl: proxy.url, serviceToken: SERVICE_TOKEN, userId: USER },
      keys: {},
      baseUrls: {},
    },
  );
  try {
    for (const provider of ["anthropic", "openai", "google"] as const) {
      const res = await postChat(plain.url, {
        model: `${provider}/sim@tokens=1`,
        stream: provider !== "openai",
        messages: [{ role: "user", content: "x" }],
      });
      expect(res.status).toBe(200);
      await res.text();
    }
    expect(proxy.requests).toHaveLength(3);
    for (const r of proxy.requests) {
      expect(r.rejected).toBeUndefined();
      expect(r.machineId).toBeNull();
      expect(r.conversationId).toBeNull();
      expect(r.userId).toBe(USER);
    }
    // The harness logger does not know this token: it must simply never be logged.
    expect(plain.logs.lines.length).toBeGreaterThan(0);
    expect(plain.logs.lines.join("\n")).not.toContain(SERVICE_TOKEN);
  } finally {
    await plain.stop();
  }
});

test("a rejected service token → clear upstream error naming the variable", async () => {
  const bad = await startTestAiServer(sim, {}, proxyUpstream("wrong-token-0123456"));
  try {
    const res = await postChat(bad.url, {
      model: "anthropic/sim",
      messages: [{ role: "user", content: "x" }],
    });
    expect(res.status).toBe(502);
    const body = (await res.json()) as Json;
    expect(body.error.code).toBe("upstream_error");
    expect(body.error.message).toContain("PIPBOT_SERVICE_TOKEN");
    expect(body.error.message).not.toContain("wrong-token-0123456");
    expect(proxy.requests[0]?.rejected).toContain("x-pipbot-service-token");
    expect(bad.logs.lines.join("\n")).not.toContain("wrong-token-0123456");
  } finally {
    await bad.stop();
  }
});

test("healthz reports proxy mode with every provider available", async () => {
  const body = (await (await fetch(`${s.url}/healthz`)).json()) as Json;
  expect(body.mode).toBe("proxy");
  expect(body.providers).toEqual({ anthropic: true, openai: true, google: true });
});

describe("per-request identity (separate deployment: one shared AI server, many VMs)", () => {
  let shared: TestAiServer;
  beforeAll(async () => {
    shared = await startTestAiServer(sim, { token: AI_TOKEN, maxRetries: 2 }, proxyUpstream());
  });
  afterAll(() => shared.stop());
  const auth = { authorization: `Bearer ${AI_TOKEN}` };
  const vm = { ...auth, "x-pipbot-user-id": VM_USER, "x-pipbot-service-token": VM_TOKEN };

  test("an authenticated caller's user id and service token replace the server's on every upstream call (all providers, retries, /v1)", async () => {
    const key = uniqueKey();
    for (const [i, provider] of (["anthropic", "openai", "google"] as const).entries()) {
      const res = await postChat(
        shared.url,
        {
          model: `${provider}/sim@tokens=2${provider === "anthropic" ? `,fail_times=1,retry_after_ms=1,key=${key}` : ""}`,
          stream: i % 2 === 1,
          messages: [{ role: "user", content: "mine" }],
        },
        vm,
      );
      expect(res.status).toBe(200);
      await res.text();
    }
    const completion = await fetch(`${shared.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...vm },
      body: JSON.stringify({ model: "openai/sim@tokens=1", messages: [{ role: "user", content: "v1" }] }),
    });
    expect(completion.status).toBe(200);
    await completion.text();
    // anthropic: a 529 then the retry, both with the caller's identity.
    expect(proxy.requests.map((r) => `${r.provider}:${r.status}`)).toEqual([
      "anthropic:529",
      "anthropic:200",
      "openai:200",
      "google:200",
      "openai:200",
    ]);
    for (const r of proxy.requests) {
      expect(r.rejected).toBeUndefined(); // the proxy checked: token, SDK credential and user agree
      expect(r.userId).toBe(VM_USER);
    }
    // The SDK credential and the identity header carry the caller's token, never the server's.
    for (const r of sim.requests) {
      expect(r.headers["x-pipbot-service-token"]).toBe(VM_TOKEN);
      const credential = r.provider === "google" ? r.headers["x-goog-api-key"] : r.headers.authorization;
      expect(credential).toContain(VM_TOKEN);
    }
    // The wide line of a non-streamed reply is written just after the reply (setImmediate): wait
    // for all four (three /chat and one /v1) rather than read the log the moment the reply lands.
    const lines = await waitFor(
      () => {
        const found = shared.logs.records().filter((l) => l.msg === "chat request");
        return found.length >= 4 ? found : null;
      },
      { what: "four 'chat request' log lines" },
    );
    expect(lines).toHaveLength(4);
    expect(lines.every((l) => l.userId === VM_USER)).toBe(true);
    expect(shared.logs.lines.join("\n")).not.toContain(VM_TOKEN);
  });

  test("without identity headers the server's own identity is used (no userId in the log line)", async () => {
    const res = await postChat(
      shared.url,
      { model: "anthropic/sim@tokens=1", messages: [{ role: "user", content: "x" }] },
      auth,
    );
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-pipbot-request-id");
    await res.text();
    expect(proxy.requests.map((r) => [r.userId, r.rejected])).toEqual([[USER, undefined]]);
    expect(sim.requests[0]!.headers["x-pipbot-service-token"]).toBe(SERVICE_TOKEN);
    // THIS request's line (by request id; it is written just after the reply), so the assertion
    // cannot pass on a missing line nor read an earlier request's.
    const line = await waitFor(
      () => shared.logs.records().find((l) => l.msg === "chat request" && l.requestId === requestId),
      { what: `the 'chat request' log line of ${requestId}` },
    );
    expect(line.requestId).toBe(requestId);
    expect("userId" in line).toBe(false);
  });

  test("usage rows carry the effective user (the caller's, else the server's own); GET /usage?user= filters", async () => {
    const before = shared.usageRows().length;
    const ask = (headers: Record<string, string>, content: string) =>
      postChat(
        shared.url,
        { model: "openai/sim@tokens=3", messages: [{ role: "user", content }] },
        headers,
      ).then((r) => r.text());
    await ask(vm, "billed to the vm");
    await ask(vm, "billed to the vm again");
    await ask(auth, "billed to the server");
    const rows = await waitFor(
      () => (shared.usageRows().length === before + 3 ? shared.usageRows().slice(before) : null),
      { what: "three usage rows" },
    );
    expect(rows.map((r) => r.user_id).sort()).toEqual([USER, VM_USER, VM_USER].sort());
    const totals = async (q: string) => {
      const res = await fetch(`${shared.url}/usage${q}`, { headers: auth });
      expect(res.status).toBe(200);
      return (await res.json()) as Json;
    };
    const mine = await totals(`?user=${VM_USER}`);
    expect(mine.user).toBe(VM_USER);
    const vmRequests = shared.usageRows().filter((r) => r.user_id === VM_USER).length;
    expect(mine.totals.reduce((n: number, t: Json) => n + t.requests, 0)).toBe(vmRequests);
    const all = await totals("");
    expect(all.user).toBeUndefined();
    expect(all.totals.reduce((n: number, t: Json) => n + t.requests, 0)).toBe(shared.usageRows().length);
    expect((await totals("?user=nobody_here")).totals).toEqual([]);
    const bad = await fetch(`${shared.url}/usage?user=${encodeURIComponent("has space")}`, { headers: auth });
    expect(bad.status).toBe(400);
  });

  test("direct mode: the forwarded user is recorded, no identity → no user", async () => {
    const direct = await startTestAiServer(sim, { token: AI_TOKEN });
    try {
      const ask = (headers: Record<string, string>) =>
        postChat(
          direct.url,
          { model: "openai/sim", messages: [{ role: "user", content: "d" }] },
          headers,
        ).then((r) => r.text());
      await ask(vm);
      await ask(auth);
      const rows = await waitFor(() => (direct.usageRows().length === 2 ? direct.usageRows() : null), {
        what: "two usage rows",
      });
      expect(rows.map((r) => r.user_id).sort()).toEqual([null, VM_USER].sort());
      expect(proxy.requests).toHaveLength(0);
    } finally {
      await direct.stop();
    }
  });

  test("one identity header without the other → 400 naming the missing one; nothing goes upstream", async () => {
    for (const [sent, missing] of [
      [{ "x-pipbot-user-id": VM_USER }, "x-pipbot-service-token"],
      [{ "x-pipbot-service-token": VM_TOKEN }, "x-pipbot-user-id"],
    ] as const) {
      const res = await postChat(
        shared.url,
        { model: "openai/sim", messages: [{ role: "user", content: "x" }] },
        { ...auth, ...sent },
      );
      expect(res.status).toBe(400);
      const err = ((await res.json()) as Json).error;
      expect(err.code).toBe("invalid_request");
      expect(err.message).toContain(`${missing} is missing`);
      expect(JSON.stringify(err)).not.toContain(VM_TOKEN);
    }
    const bad = await postChat(
      shared.url,
      { model: "openai/sim", messages: [{ role: "user", content: "x" }] },
      { ...vm, "x-pipbot-user-id": "has space" },
    );
    expect(bad.status).toBe(400);
    expect(proxy.requests).toHaveLength(0);
  });

  test("a caller's token the proxy rejects → 502, the token in neither the reply nor the logs", async () => {
    const wrong = "svc-token-not-this-users-000";
    const res = await postChat(
      shared.url,
      { model: "google/sim", messages: [{ role: "user", content: "x" }] },
      { ...vm, "x-pipbot-service-token": wrong },
    );
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(text).not.toContain(wrong);
    const message = (JSON.parse(text) as Json).error.message as string;
    expect(message).toContain("the proxy rejected the caller's identity");
    expect(message).toContain("x-pipbot-service-token");
    expect(proxy.requests[0]?.rejected).toContain("x-pipbot-service-token");
    expect(shared.logs.lines.join("\n")).not.toContain(wrong);
  });

  test("the bearer token is still required: identity headers alone are refused with 401", async () => {
    const res = await postChat(
      shared.url,
      { model: "openai/sim", messages: [{ role: "user", content: "x" }] },
      { "x-pipbot-user-id": VM_USER, "x-pipbot-service-token": VM_TOKEN },
    );
    expect(res.status).toBe(401);
    expect(proxy.requests).toHaveLength(0);
  });

  test("a server without AI_SERVER_TOKEN (loopback, integrated) ignores identity headers: its own identity is used", async () => {
    const res = await postChat(
      s.url,
      { model: "openai/sim@tokens=1", messages: [{ role: "user", content: "x" }] },
      { "x-pipbot-user-id": VM_USER, "x-pipbot-service-token": VM_TOKEN },
    );
    expect(res.status).toBe(200);
    await res.text();
    expect(proxy.requests.map((r) => [r.userId, r.rejected])).toEqual([[USER, undefined]]);
    expect(sim.requests[0]!.headers["x-pipbot-service-token"]).toBe(SERVICE_TOKEN);
  });
});
