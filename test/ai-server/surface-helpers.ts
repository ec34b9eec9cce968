/** Shared pieces of the chat-surface tests: the server + simulator, clients, and upstream bodies. */
import { afterAll, afterEach, beforeAll } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { startTestAiServer, type TestAiServer } from "./harness.ts";

export const TOKEN = "surface-token-0123456789";
export const PROVIDERS = ["anthropic", "openai", "google"] as const;
export type P = (typeof PROVIDERS)[number];

export interface Surface {
  sim: UpstreamSim;
  server: TestAiServer;
  openai: OpenAI;
  stop(): Promise<void>;
}

export async function startSurface(): Promise<Surface> {
  const sim = await startUpstreamSim();
  const server = await startTestAiServer(sim, { token: TOKEN, defaultModel: "anthropic/sim" });
  const openai = new OpenAI({ apiKey: TOKEN, baseURL: `${server.url}/v1`, maxRetries: 0 });
  return {
    sim,
    server,
    openai,
    async stop() {
      await server.stop();
      await sim.stop();
    },
  };
}

/** Provider JSON of many shapes, walked by assertions (a wrong path fails the expect). */
// biome-ignore lint/suspicious/noExplicitAny: test assertions walk provider request bodies of many shapes
export type Wire = any;

/** The body of the last request that reached the simulator for `provider`. */
export function upstreamBody(sim: UpstreamSim, provider: P): Wire {
  const r = sim.requests.filter((x) => x.provider === provider).at(-1);
  if (!r) throw new Error(`no ${provider} request reached the simulator`);
  return r.body;
}

export const WEATHER_TOOL = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Current weather of a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

/** A 1×1 PNG and a tiny PDF, base64. */
export const PNG_B64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
export const PDF_B64 = Buffer.from("%PDF-1.4\n% test\n%%EOF\n").toString("base64");

/**
 * A surface and an `@anthropic-ai/sdk` client on it (`baseURL` = the AI server), for the file's
 * tests: started before them, the simulator's log cleared after each, stopped after all.
 */
export function claudeSurface(): { s: Surface; claude: Anthropic } {
  const t = {} as { s: Surface; claude: Anthropic };
  beforeAll(async () => {
    t.s = await startSurface();
    t.claude = new Anthropic({ apiKey: TOKEN, baseURL: t.s.server.url, maxRetries: 0 });
  });
  afterEach(() => t.s.sim.reset());
  afterAll(() => t.s.stop());
  return t;
}
