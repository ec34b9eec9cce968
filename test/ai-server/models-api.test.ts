/**
 * GET /v1/models and /v1/models/{id} through the SDKs that call them: the openai SDK's
 * models.list() / retrieve() and @anthropic-ai/sdk's models.list() / retrieve() (Anthropic's shape,
 * chosen by its anthropic-version header). A model that is not listed is a 404 naming the list.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startUpstreamSim, type UpstreamSim } from "../../src/dev/upstream-sim.ts";
import { startTestAiServer, type TestAiServer } from "./harness.ts";

let sim: UpstreamSim;
let s: TestAiServer;
const LISTED = ["anthropic/sim", "openai/sim", "google/sim"];

beforeAll(async () => {
  sim = await startUpstreamSim();
  s = await startTestAiServer(sim, {
    defaultModel: "anthropic/sim",
    fallbackModels: ["openai/sim"],
    extraModels: ["google/sim"],
  });
});
afterAll(async () => {
  await s.stop();
  await sim.stop();
});

test("openai SDK: models.list() and models.retrieve() of a listed id (slash and all)", async () => {
  const client = new OpenAI({ apiKey: "any", baseURL: `${s.url}/v1`, maxRetries: 0 });
  const ids: string[] = [];
  for await (const m of client.models.list()) ids.push(m.id);
  expect(ids).toEqual(LISTED);
  const m = await client.models.retrieve("openai/sim");
  expect([m.id, m.object, m.owned_by]).toEqual(["openai/sim", "model", "openai"]);
  const missing = await client.models.retrieve("openai/not-listed").catch((e: unknown) => e);
  expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
  expect(String((missing as Error).message)).toContain("anthropic/sim, openai/sim, google/sim");
});

test("@anthropic-ai/sdk: models.list() and models.retrieve() in Anthropic's shape", async () => {
  const claude = new Anthropic({ apiKey: "any", baseURL: s.url, maxRetries: 0 });
  const ids: string[] = [];
  for await (const m of claude.models.list()) ids.push(m.id);
  expect(ids).toEqual(LISTED);
  const m = await claude.models.retrieve("anthropic/sim");
  expect([m.type, m.id, m.display_name]).toEqual(["model", "anthropic/sim", "anthropic/sim"]);
  const missing = await claude.models.retrieve("claude-not-listed").catch((e: unknown) => e);
  expect(missing).toBeInstanceOf(Anthropic.NotFoundError);
});

test("an id with a stray % or a malformed escape is a 404 naming it, not a server error", async () => {
  for (const raw of ["abc%25zz", "%E0%A4%A"]) {
    const res = await fetch(`${s.url}/v1/models/${raw}`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toContain("is not among the listed models");
  }
});
