import { describe, expect, test } from "bun:test";
import { startUpstreamSim } from "../dev/upstream-sim.ts";
import { UsageError } from "../shared/cli-args.ts";
import { aiEnv, loadEnv } from "../shared/config/index.ts";
import { parseDemoArgs } from "./args.ts";
import { DEMO_MODEL, demoEnv, demoModelProblem, readyMessage } from "./demo.ts";

describe("pipbot demo: which models it can serve", () => {
  test("every provider's models (the simulator stands in for each), with simulator options", () => {
    for (const m of [DEMO_MODEL, "openai/gpt-4.1-mini", "google/gemini-2.5-flash", `${DEMO_MODEL}@tokens=3`])
      expect(demoModelProblem({}, m)).toBeUndefined();
  });

  test("an unknown provider prefix: the value, why, what the simulator serves, the fix (--model)", () => {
    const text = demoModelProblem({}, "nosuch/x");
    expect(text).toStartWith('--model "nosuch/x" has an unknown provider prefix "nosuch/"');
    expect(text).toContain("nothing was started");
    expect(text).toContain("anthropic, openai, google");
    expect(text).toContain(
      "Fix: pass --model <provider>/<model> with <provider> one of anthropic, openai, google",
    );
    // The AI server's own fix (AI_DEFAULT_PROVIDER) is not what a demo user can act on.
    expect(text).not.toContain("AI_DEFAULT_PROVIDER");
  });

  test("a model id the simulator answers 404, or options it refuses: the value, why, what it serves and accepts", () => {
    const unknown = demoModelProblem({}, "openai/unknown-x");
    expect(unknown).toStartWith(
      '--model "openai/unknown-x" names a model the simulator answers as unknown (404',
    );
    expect(unknown).toContain('ids starting with "unknown" or "missing"');
    expect(unknown).toContain("nothing was started");
    expect(unknown).toContain("The simulator serves any other model id");
    const badOption = demoModelProblem({}, "openai/sim@tokens=abc");
    expect(badOption).toStartWith(
      '--model "openai/sim@tokens=abc" has simulator options the simulator refuses (400: simulator option tokens=abc must be a non-negative number)',
    );
    expect(badOption).toContain("tokens, rate, latency, ttft");
    expect(demoModelProblem({}, `${DEMO_MODEL}@speed=2`)).toContain('unknown simulator option "speed"');
    expect(demoModelProblem({}, "google/missing-1")).toContain("answers as unknown");
    expect(demoModelProblem({}, `${DEMO_MODEL}@fault=nope`)).toContain('unknown simulator fault "nope"');
  });

  test("the demo refuses exactly what the running simulator refuses (its own rules, not a copy)", async () => {
    const sim = await startUpstreamSim();
    try {
      const cases: [string, number][] = [
        ["openai/unknown-x", 404],
        ["openai/sim@tokens=abc", 400],
        ["openai/sim@speed=2", 400],
        ["openai/missing", 404],
        ["openai/gpt-4.1-mini@tokens=2", 200],
        ["openai/unknownish-is-still-unknown", 404],
        ["openai/sim", 200],
      ];
      for (const [model, status] of cases) {
        const res = await fetch(`${sim.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer sim" },
          body: JSON.stringify({
            model: model.slice("openai/".length),
            messages: [{ role: "user", content: "x" }],
          }),
        });
        await res.text();
        expect(`${model} ${res.status}`).toBe(`${model} ${status}`);
        expect(`${model} ${demoModelProblem({}, model) === undefined}`).toBe(`${model} ${status === 200}`);
      }
    } finally {
      await sim.stop();
    }
  });

  test("an empty --model is a usage error (it would have run the AI server's own default, shown as nothing)", () => {
    for (const m of ["", "  "]) {
      expect(() => parseDemoArgs(["--model", m])).toThrow(UsageError);
      expect(() => parseDemoArgs(["--model", m])).toThrow("--model is empty");
    }
    expect(parseDemoArgs(["--model", " openai/x "]).model).toBe("openai/x");
  });

  test("a bare id cannot be resolved either (three providers), as the AI server would refuse it", () => {
    expect(demoModelProblem({}, "gpt-4o")).toStartWith('--model "gpt-4o" has no provider prefix');
  });

  test("the same resolution as the AI server: AI_DEFAULT_PROVIDER in the environment takes slashed ids", () => {
    expect(demoModelProblem({ AI_DEFAULT_PROVIDER: "openai" }, "meta-llama/llama-3")).toBeUndefined();
  });

  test("the demo's environment is valid for the AI server even when the user's says proxy mode", () => {
    const env = demoEnv(
      { AI_UPSTREAM: "proxy", CONVEX_URL: "https://x.convex.cloud" },
      { simUrl: "http://127.0.0.1:1", dataDir: "/d", token: "t", model: undefined },
    );
    expect(env.AI_UPSTREAM).toBe("direct");
    expect(env.CONVEX_URL).toBeUndefined();
    expect(loadEnv(aiEnv, env).ok).toBe(true);
    expect(demoModelProblem({ AI_UPSTREAM: "proxy" }, "anthropic/x")).toBeUndefined();
  });
});

describe("pipbot demo: the ready message", () => {
  const base = { gatewayPort: "18789", tokenSource: "/d/gateway-token" };

  test("the Control UI at /control/ when the gateway serves it, with the token hint, never the token", () => {
    const text = readyMessage({ ...base, controlUi: true });
    expect(text).toContain(
      "or the OpenClaw Control UI: http://127.0.0.1:18789/control/ (paste the token from /d/gateway-token)",
    );
  });

  test("no Control UI line when it is not served", () => {
    expect(readyMessage(base)).not.toContain("/control");
    expect(readyMessage({ ...base, controlUi: false })).not.toContain("Control UI");
  });
});
