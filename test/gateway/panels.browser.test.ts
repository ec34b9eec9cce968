/**
 * The owner panels in the REAL OpenClaw Control UI (npm `openclaw`, pinned in
 * scripts/openclaw-clients.sh; served by the gateway at /control/) in headless Chromium, against
 * the real gateway and the real AI server on the upstream simulator: every page an owner looks at
 * (usage, logs, debug, config, automations, channels, skills, approvals, agents, about) loads with
 * no error banner, no uncaught page error, and no request answered with an error — every method
 * the UI calls there is answered from what the VM has or with a valid empty result. The usage page
 * shows the usage rows of the store with their cost; the logs page shows the gateway's own lines.
 *
 * Chromium missing → the tests FAIL (.ci/run installs it). Locally, `PIPBOT_SKIP_BROWSER=1` skips
 * them (never under CI=true).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium, SKIP_BROWSER as SKIP } from "../helpers/chromium.ts";
import { waitFor } from "../helpers/index.ts";
import { openclawClients } from "../helpers/openclaw-clients.ts";
import { type SimAiServer, startSimAiServer, startTestGateway, type TestGateway, TOKEN } from "./helpers.ts";

const AI_SERVER_TOKEN = "panels-ui-ai-server-token-0123456789";
const DEADLINE_MS = 30_000;

if (SKIP) console.warn("Control UI panel tests skipped: PIPBOT_SKIP_BROWSER=1");

// The page's globals, as far as the functions run in Chromium use them (no DOM lib in tsconfig).
interface PageElement {
  textContent: string | null;
  getClientRects(): { length: number };
}
declare const document: { querySelectorAll(selector: string): ArrayLike<PageElement> };

type Frame = {
  type: string;
  id?: string;
  method?: string;
  ok?: boolean;
  error?: { code: string; message: string };
};

/**
 * Methods the UI calls that are outside the published protocol (so "unknown method" is right)
 * and that the UI handles quietly.
 */
const OUTSIDE_PROTOCOL = new Set(["themes.list"]);

/** Each page, and a method whose successful answer says the page has loaded its data. */
const PAGES: { path: string; loaded: string }[] = [
  { path: "/usage", loaded: "sessions.usage" },
  { path: "/logs", loaded: "logs.tail" },
  { path: "/debug", loaded: "last-heartbeat" },
  { path: "/settings/general", loaded: "config.get" },
  { path: "/automations", loaded: "cron.list" },
  { path: "/settings/channels", loaded: "channels.status" },
  { path: "/skills", loaded: "skills.status" },
  { path: "/settings/approvals", loaded: "approval.history" },
  { path: "/agents", loaded: "agent.identity.get" },
  { path: "/settings/about", loaded: "agent.identity.get" },
];

let sim: SimAiServer | undefined;
let browser: Browser | undefined;
let t: TestGateway | undefined;

interface Watched {
  page: Page;
  pageErrors: string[];
  sent: Frame[];
  received: Frame[];
}

async function watched(): Promise<Watched> {
  if (!browser) throw new Error("no browser");
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(DEADLINE_MS);
  const w: Watched = { page, pageErrors: [], sent: [], received: [] };
  page.on("pageerror", (e) => w.pageErrors.push(e.message));
  page.on("websocket", (ws) => {
    ws.on("framesent", (f) => w.sent.push(JSON.parse(String(f.payload)) as Frame));
    ws.on("framereceived", (f) => w.received.push(JSON.parse(String(f.payload)) as Frame));
  });
  return w;
}

const methodOf = (w: Watched, id: string | undefined) => w.sent.find((f) => f.id === id)?.method ?? "?";

/** `method: error` for every request of the page answered with an error. */
function failedRequests(w: Watched): string[] {
  return w.received
    .filter((f) => f.type === "res" && f.ok === false)
    .map((f) => `${methodOf(w, f.id)}: ${f.error?.message}`)
    .filter((line) => !OUTSIDE_PROTOCOL.has(line.split(":")[0] as string));
}

/** The text of every visible error banner / danger callout. */
async function errorBanners(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll(".callout.danger, .oc-banner-error"))
      .filter((e) => e.getClientRects().length > 0)
      .map((e) => (e.textContent ?? "").trim().slice(0, 200)),
  );
}

describe.skipIf(SKIP)("owner panels in the real Control UI 2026.9 (headless Chromium)", () => {
  beforeAll(async () => {
    const controlUiDir = openclawClients().controlUiDir;
    browser = await launchChromium();
    sim = await startSimAiServer({ token: AI_SERVER_TOKEN, dirPrefix: "pipbot-panels-ui-ai-" });
    t = await startTestGateway({
      aiUrl: sim.url,
      settings: { AI_DEFAULT_MODEL: "anthropic/sim", AI_SERVER_TOKEN, GATEWAY_CONTROL_UI_DIR: controlUiDir },
    });
    // Usage the AI server recorded for the main session (integrated mode shares the store).
    const session = t.store.getOrCreateSession("agent:main:main");
    t.store.recordUsage({
      requestId: "ui-usage-1",
      provider: "anthropic",
      model: "claude-sonnet-4-5",
      status: "ok",
      usage: {
        inputTokens: 200_000,
        outputTokens: 50_000,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
      },
      conversationId: session.id,
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
    await sim?.stop();
  });

  for (const { path, loaded } of PAGES) {
    test(`${path}: loads its data with no error banner, no failed request, no page error`, async () => {
      if (!t) throw new Error("no gateway");
      const w = await watched();
      try {
        await w.page.goto(`${t.httpUrl}/control${path}#token=${TOKEN}`);
        await waitFor(
          () => w.received.some((f) => f.type === "res" && f.ok === true && methodOf(w, f.id) === loaded),
          { timeoutMs: DEADLINE_MS, what: `${loaded} answered on ${path}` },
        );
        // Everything the page asked for has been answered (no request still pending).
        await waitFor(
          () => w.sent.filter((f) => f.type === "req").every((q) => w.received.some((r) => r.id === q.id)),
          { timeoutMs: DEADLINE_MS, what: `every request of ${path} answered` },
        );
        if (path === "/usage") await w.page.getByText("$1.35", { exact: false }).first().waitFor();
        if (path === "/logs") await w.page.getByText("gateway client connected").first().waitFor();
        expect(failedRequests(w)).toEqual([]);
        expect(await errorBanners(w.page)).toEqual([]);
        expect(w.pageErrors).toEqual([]);
      } finally {
        await w.page.context().close();
      }
    }, 90_000);
  }

  test("the UI's bootstrap config and avatar under its mount are JSON and an image, not its index.html", async () => {
    if (!t) throw new Error("no gateway");
    const cfg = await fetch(`${t.httpUrl}/control/control-ui-config.json`);
    expect(cfg.headers.get("content-type")).toContain("application/json");
    expect(await cfg.json()).toMatchObject({ basePath: "/control", assistantAvatar: "/control/avatar/main" });
    const img = await fetch(`${t.httpUrl}/control/avatar/main`);
    expect(img.headers.get("content-type")).toBe("image/svg+xml");
  });
});
