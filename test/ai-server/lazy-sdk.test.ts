/**
 * Cold start: `pipbot ai` must not import the three provider SDKs at start-up. Checked two ways:
 * the static import graph of the AI server's entry point (what Bun loads before `main` runs)
 * reaches none of them, and the registry imports a provider's SDK on that provider's first call
 * only — concurrent first calls share the one import, and the first request still succeeds.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createProviderRegistry } from "../../src/ai-server/providers/index.ts";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { directUpstream, postChat, startTestAiServer } from "./harness.ts";

const ROOT = resolve(import.meta.dir, "../..");
const SDKS = ["@anthropic-ai/sdk", "openai", "@google/genai"];
const ADAPTERS = ["anthropic.ts", "openai.ts", "google.ts"].map((f) => `src/ai-server/providers/${f}`);

let sim: UpstreamSim;
beforeAll(async () => {
  sim = await startUpstreamSim();
});
afterAll(() => sim.stop());

/** Every file and package reached from `entry` by static imports (type-only imports are dropped). */
function staticGraph(entry: string): { files: string[]; packages: string[] } {
  const t = new Bun.Transpiler({ loader: "ts" });
  const files = new Set<string>();
  const packages = new Set<string>();
  const walk = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const i of t.scanImports(readFileSync(file, "utf8"))) {
      if (i.kind !== "import-statement") continue;
      if (i.path.startsWith(".")) walk(resolve(dirname(file), i.path));
      else packages.add(i.path);
    }
  };
  walk(resolve(ROOT, entry));
  return { files: [...files].map((f) => f.slice(ROOT.length + 1)), packages: [...packages] };
}

test("the AI server's static import graph reaches no provider SDK (they load on first use)", () => {
  const g = staticGraph("src/ai-server/main.ts");
  expect(g.files).toContain("src/ai-server/providers/index.ts");
  expect(g.files).toContain("src/ai-server/app.ts");
  for (const sdk of SDKS) expect(g.packages.some((p) => p === sdk || p.startsWith(`${sdk}/`))).toBe(false);
  for (const a of ADAPTERS) expect(g.files).not.toContain(a);
  // ...while each adapter module does import its SDK (so the dynamic import is what loads it).
  expect(staticGraph("src/ai-server/providers/anthropic.ts").packages).toContain("@anthropic-ai/sdk");
  expect(staticGraph("src/ai-server/providers/openai.ts").packages).toContain("openai");
  expect(staticGraph("src/ai-server/providers/google.ts").packages).toContain("@google/genai");
});

test("a provider's SDK is loaded on its first call only; concurrent first calls share it", async () => {
  const registry = createProviderRegistry(directUpstream(sim));
  expect(registry.configured).toEqual({ anthropic: true, openai: true, google: true });
  expect(registry.loaded()).toEqual([]);
  const s = await startTestAiServer(sim, {}, directUpstream(sim));
  try {
    const msg = [{ role: "user", content: "first" }];
    const [a, b] = await Promise.all([
      postChat(s.url, { model: "google/sim@tokens=2", messages: msg }),
      postChat(s.url, { model: "google/sim@tokens=2", stream: true, messages: msg }),
    ]);
    expect(a.status).toBe(200);
    expect(((await a.json()) as { message: { content: { text: string }[] } }).message.content[0]?.text).toBe(
      "You said: first. w1",
    );
    expect(await b.text()).toContain("event: done");
  } finally {
    await s.stop();
  }
  // The registry above was never called: still nothing loaded. A direct call loads one provider.
  expect(registry.loaded()).toEqual([]);
  const events = await registry.get("openai").openStream({
    model: "sim@tokens=1",
    messages: [{ role: "user", content: [{ type: "text", text: "x" }] }],
    headers: {},
    signal: new AbortController().signal,
  });
  const seen: string[] = [];
  for await (const batch of events) for (const ev of batch) seen.push(ev.type);
  expect(seen).toContain("stop");
  expect(registry.loaded()).toEqual(["openai"]);
});
