/** Model resolution: provider prefixes, defaults, candidates and the listed models. */
import { describe, expect, test } from "bun:test";
import { PipbotError } from "../shared/errors.ts";
import { candidateModels, listedModels, resolveModel } from "./models.ts";

const d = { defaultModel: "anthropic/claude-sonnet-4-5" };

describe("models", () => {
  test("prefix, explicit provider, default provider, default model", () => {
    expect(resolveModel("openai/gpt-4.1", undefined, d)).toEqual({
      provider: "openai",
      model: "gpt-4.1",
      id: "openai/gpt-4.1",
    });
    expect(resolveModel("gpt-4.1", "openai", d).provider).toBe("openai");
    expect(resolveModel("claude-x", undefined, d).provider).toBe("anthropic");
    expect(resolveModel("x", undefined, { ...d, defaultProvider: "google" }).provider).toBe("google");
    expect(resolveModel(undefined, undefined, d).id).toBe("anthropic/claude-sonnet-4-5");
    // an unknown prefix is a 400 listing the configured providers, unless AI_DEFAULT_PROVIDER
    // claims slashed ids (OpenAI-compatible servers use slashes)
    expect(() => resolveModel("nosuch/x", undefined, d, { openai: true, google: true })).toThrow(
      /unknown provider prefix "nosuch\/".*openai\/, google\//,
    );
    expect(resolveModel("meta-llama/llama-3", undefined, { ...d, defaultProvider: "openai" })).toMatchObject({
      provider: "openai",
      model: "meta-llama/llama-3",
    });
    // a bare id with one configured provider goes to it
    expect(resolveModel("llama3.2", undefined, d, { openai: true }).id).toBe("openai/llama3.2");
  });

  test("mismatched provider and prefix is a 400", () => {
    const e = (() => {
      try {
        resolveModel("anthropic/x", "openai", d);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(PipbotError);
    expect((e as PipbotError).status).toBe(400);
  });

  test("candidates and listed models are de-duplicated", () => {
    const p = resolveModel("openai/a", undefined, d);
    expect(candidateModels(p, ["openai/a", "google/b", "google/b"], d).map((m) => m.id)).toEqual([
      "openai/a",
      "google/b",
    ]);
    expect(
      listedModels(d, ["openai/a"], ["anthropic/claude-sonnet-4-5", "google/b"]).map((m) => m.id),
    ).toEqual(["anthropic/claude-sonnet-4-5", "openai/a", "google/b"]);
  });
});
