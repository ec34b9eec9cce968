import { afterEach, expect, test } from "bun:test";
import { createModelCatalog } from "./model-catalog.ts";

/** A real models endpoint on port 0: answers each GET /v1/models with the next list (the last one repeats). */
function server(lists: string[][]) {
  let i = 0;
  const calls: { url: string; authorization: string | null }[] = [];
  const srv = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      calls.push({ url: req.url, authorization: req.headers.get("authorization") });
      const ids = lists[Math.min(i++, lists.length - 1)] as string[];
      return Response.json({ object: "list", data: ids.map((id) => ({ id, owned_by: id.split("/")[0] })) });
    },
  });
  servers.push(srv);
  return { url: `http://127.0.0.1:${srv.port}`, calls };
}

const servers: { stop(force?: boolean): unknown }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
});

/** A fetch that fails like a refused connection, typed as fetch without a cast. */
const refused: typeof fetch = Object.assign(
  async (): Promise<Response> => {
    throw new TypeError("connection refused");
  },
  { preconnect: fetch.preconnect },
);

test("lists the AI server's models, default first (or the gateway's), cached, with the token", async () => {
  let t = 0;
  const s = server([["anthropic/a", "openai/b"]]);
  const c = createModelCatalog({
    baseUrl: `${s.url}/`,
    token: "tok",
    now: () => t,
    ttlMs: 1000,
  });
  expect(c.lastDefault()).toBeUndefined();
  const r = await c.list();
  expect(r).toEqual({
    ok: true,
    defaultModel: "anthropic/a",
    models: [
      { id: "anthropic/a", provider: "anthropic", isDefault: true },
      { id: "openai/b", provider: "openai", isDefault: false },
    ],
  });
  expect(s.calls[0]?.url).toBe(`${s.url}/v1/models`);
  expect(s.calls[0]?.authorization).toBe("Bearer tok");
  await c.list();
  expect(s.calls).toHaveLength(1);
  t = 2000;
  await c.list();
  expect(s.calls).toHaveLength(2);
  expect(c.lastDefault()).toBe("anthropic/a");
  const g = createModelCatalog({
    baseUrl: server([["anthropic/a", "openai/b"]]).url,
    defaultModel: "openai/b",
  });
  expect((await g.list()).ok && (await g.list({ refresh: true }))).toMatchObject({
    defaultModel: "openai/b",
  });
});

test("a changed list calls onChange once; a failure is an error, not an empty list", async () => {
  let changes = 0;
  const s = server([["anthropic/a"], ["anthropic/a"], ["anthropic/a", "google/c"]]);
  const c = createModelCatalog({ baseUrl: s.url, onChange: () => changes++ });
  await c.list({ refresh: true });
  await c.list({ refresh: true });
  expect(changes).toBe(0);
  await c.list({ refresh: true });
  expect(changes).toBe(1);
  const down = createModelCatalog({
    baseUrl: "http://ai",
    fetch: refused,
  });
  expect(await down.list()).toEqual({ ok: false, error: "AI server unreachable" });
});
