import { describe, expect, test } from "bun:test";
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
