import { expect, test } from "bun:test";
import { createModelCatalog } from "./model-catalog.ts";

function server(lists: string[][]) {
  let i = 0;
  const calls: Request[] = [];
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push(new Request(String(input), init));
    const ids = lists[Math.min(i++, lists.length - 1)] as string[];
    return Response.json({ object: "list", data: ids.map((id) => ({ id, owned_by: id.split("/")[0] })) });
  }) as typeof fetch;
  return { f, calls };
}

test("lists the AI server's models, default first (or the gateway's), cached, with the token", async () => {
  let t = 0;
  const s = server([["anthropic/a", "openai/b"]]);
  const c = createModelCatalog({
    baseUrl: "http://ai/",
    token: "tok",
    fetch: s.f,
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
  expect(s.calls[0]?.url).toBe("http://ai/v1/models");
  expect(s.calls[0]?.headers.get("authorization")).toBe("Bearer tok");
  await c.list();
  expect(s.calls).toHaveLength(1);
  t = 2000;
  await c.list();
  expect(s.calls).toHaveLength(2);
  expect(c.lastDefault()).toBe("anthropic/a");
  const g = createModelCatalog({
    baseUrl: "http://ai",
    defaultModel: "openai/b",
    fetch: server([["anthropic/a", "openai/b"]]).f,
  });
  expect((await g.list()).ok && (await g.list({ refresh: true }))).toMatchObject({
    defaultModel: "openai/b",
  });
});

test("a changed list calls onChange once; a failure is an error, not an empty list", async () => {
  let changes = 0;
  const s = server([["anthropic/a"], ["anthropic/a"], ["anthropic/a", "google/c"]]);
  const c = createModelCatalog({ baseUrl: "http://ai", fetch: s.f, onChange: () => changes++ });
  await c.list({ refresh: true });
  await c.list({ refresh: true });
  expect(changes).toBe(0);
  await c.list({ refresh: true });
  expect(changes).toBe(1);
  const down = createModelCatalog({
    baseUrl: "http://ai",
    fetch: (async () => {
      throw new TypeError("connection refused");
    }) as unknown as typeof fetch,
  });
  expect(await down.list()).toEqual({ ok: false, error: "AI server unreachable" });
});
