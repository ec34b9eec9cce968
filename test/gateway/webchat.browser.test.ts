/**
 * The web chat (`GET /`) in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core; no browser download), against the real gateway and the real AI server on the
 * upstream simulator: the token leaves the address bar and is stored nowhere, a message typed and
 * sent streams its reply, a reload shows the history, Stop aborts a slow reply and keeps the
 * partial text, a wrong token shows the auth error without reconnecting, and the page logs no
 * console error or CSP violation.
 *
 * Chromium missing → the tests FAIL (CI installs it in .ci/run). Locally, `PIPBOT_SKIP_BROWSER=1`
 * skips them (never under CI=true).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchChromium, SKIP_BROWSER as SKIP } from "../helpers/chromium.ts";
import { waitFor } from "../helpers/index.ts";
import {
  connected,
  type RawClient,
  type SimAiServer,
  startSimAiServer,
  startTestGateway,
  type TestGateway,
  TOKEN,
} from "./helpers.ts";

// The page's globals, as far as the functions run in Chromium use them (the tsconfig has no DOM lib).
interface PageElement {
  dispatchEvent(e: unknown): boolean;
  textContent: string | null;
  hidden: boolean;
  disabled: boolean;
  src: string;
  append(node: PageElement): void;
}
declare const document: {
  getElementById(id: string): PageElement; // the page's own ids: always there
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): { length: number };
  createElement(tag: string): PageElement;
  addEventListener(type: string, f: (e: { violatedDirective: string; blockedURI: string }) => void): void;
  body: PageElement;
  cookie: string;
};
declare const location: { hash: string; href: string };
declare function atob(s: string): string;
declare class DataTransfer {
  items: { add(f: unknown): void };
}
declare class File {
  constructor(parts: unknown[], name: string, opts: { type: string });
}
declare class ClipboardEvent {
  constructor(type: string, init: { clipboardData: DataTransfer; bubbles: boolean });
}
declare const history: { state: unknown };
declare const localStorage: Record<string, string>;
declare const sessionStorage: Record<string, string>;

/** A 1×1 PNG. */
const PNG_1X1 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const AI_SERVER_TOKEN = "browser-ai-server-token-0123456789";
/** Deadline of every DOM condition (the whole stack is local; generous for a loaded 2-core CI). */
const DEADLINE_MS = 15_000;

if (SKIP) console.warn("webchat browser tests skipped: PIPBOT_SKIP_BROWSER=1");

let simAi: SimAiServer | undefined;
let aiUrl: string;
let browser: Browser | undefined;
const gateways: TestGateway[] = [];
const contexts: BrowserContext[] = [];
const clients: RawClient[] = [];

/** A page with everything it reports recorded: console errors, page errors, its WebSockets. */
interface WatchedPage {
  page: Page;
  /** Console errors/warnings (a CSP violation is one) and uncaught page errors. */
  problems: string[];
  sockets: string[];
  /** Every frame the page sent, parsed. */
  sent: { method?: string; params?: Record<string, unknown> }[];
}

async function watchedPage(): Promise<WatchedPage> {
  if (!browser) throw new Error("no browser");
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  contexts.push(context);
  // A CSP violation is a console error anyway; this names it (init scripts are not under the CSP).
  await context.addInitScript(() =>
    document.addEventListener("securitypolicyviolation", (e) =>
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
    ),
  );
  const page = await context.newPage();
  page.setDefaultTimeout(DEADLINE_MS);
  const w: WatchedPage = { page, problems: [], sockets: [], sent: [] };
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") w.problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => w.problems.push(`pageerror: ${e.message}`));
  page.on("websocket", (ws) => {
    w.sockets.push(ws.url());
    ws.on("framesent", (f) => w.sent.push(JSON.parse(String(f.payload))));
  });
  return w;
}

async function gateway(model: string): Promise<TestGateway> {
  const t = await startTestGateway({ aiUrl, settings: { AI_DEFAULT_MODEL: model, AI_SERVER_TOKEN } });
  gateways.push(t);
  return t;
}

/** Everything the page keeps in storage or cookies, as one string (to look for the token in). */
async function storedEverywhere(page: Page): Promise<string> {
  const inPage = await page.evaluate(() =>
    JSON.stringify({
      local: Object.entries(localStorage),
      session: Object.entries(sessionStorage),
      cookie: document.cookie,
      href: location.href,
      historyState: history.state,
    }),
  );
  const cookies = await page.context().cookies();
  return inPage + JSON.stringify(cookies);
}

const assistantTexts = (page: Page) => page.locator("#log .msg.assistant span:last-child").allTextContents();
const waitConnected = (page: Page) =>
  page.waitForFunction(
    () =>
      document.getElementById("status").textContent === "connected" &&
      !document.getElementById("text").disabled,
  );

describe.skipIf(SKIP)("web chat in headless Chromium (real gateway + AI server + simulator)", () => {
  beforeAll(async () => {
    browser = await launchChromium();
    simAi = await startSimAiServer({ token: AI_SERVER_TOKEN, dirPrefix: "pipbot-browser-ai-" });
    aiUrl = simAi.url;
  }, 40_000);

  afterAll(async () => {
    await browser?.close();
    await simAi?.stop();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const c of contexts.splice(0)) await c.close();
    for (const g of gateways.splice(0)) await g.stop();
  });

  test("token out of the address bar and storage; type + Enter streams the reply; reload shows history", async () => {
    // 80 chunks at 40/s: about 2 s of streaming, long enough to see it stream.
    const t = await gateway("anthropic/sim@tokens=80,rate=40");
    const { page, problems, sockets } = await watchedPage();
    await page.goto(`${t.httpUrl}/#token=${TOKEN}`);

    await waitConnected(page);
    expect(await page.evaluate(() => location.hash)).toBe("");
    expect(page.url()).toBe(`${t.httpUrl}/`);
    expect(await storedEverywhere(page)).not.toContain(TOKEN);
    expect(await page.locator("#log .msg").count()).toBe(0);

    // A person types and presses Enter.
    await page.locator("#text").click();
    await page.keyboard.type("hello from a real browser");
    await page.keyboard.press("Enter");
    await page.locator("#log .msg.user").filter({ hasText: "hello from a real browser" }).waitFor();
    expect(await page.locator("#text").inputValue()).toBe("");

    // While it streams: Stop shown, some assistant text but not all of it yet.
    const streamed = await page.waitForFunction(() => {
      const b = document.querySelector("#log .msg.assistant span:last-child");
      const stop = document.getElementById("stop");
      return !stop.hidden && b?.textContent ? b.textContent : false;
    });
    const partial = (await streamed.jsonValue()) as string;
    expect(partial).toStartWith("You said: hello from a real browser.");
    expect(partial).not.toContain(" w79");

    // Final: Stop hidden, Send enabled again, the full reply shown, as stored.
    await page.waitForFunction(() => {
      const stop = document.getElementById("stop");
      const go = document.getElementById("go");
      return stop.hidden && !go.disabled;
    });
    const session = t.store.findSession("main");
    expect(session).toBeTruthy();
    const stored = t.store.listMessages(session?.id as string);
    expect(stored.map((m) => m.role)).toEqual(["user", "assistant"]);
    const finalText = stored[1]?.content.map((b) => b.text).join("") ?? "";
    expect(finalText).toEndWith(" w79");
    expect(await assistantTexts(page)).toEqual([finalText]);
    expect(partial.length).toBeLessThan(finalText.length);
    expect(finalText).toStartWith(partial);
    expect(await page.locator("#log .note").count()).toBe(0);
    await page.screenshot({ path: "/tmp/webchat.png" });

    // Reload: the token is gone with the fragment, so the page asks for it (password field).
    await page.reload();
    await page.locator("#auth #token").waitFor();
    expect(await page.locator("#token").getAttribute("type")).toBe("password");
    await page.locator("#token").fill(TOKEN);
    await page.locator("#auth button").click();
    await waitConnected(page);
    await page.locator("#log .msg.assistant").first().waitFor();
    expect(await page.locator("#log .msg.user").allTextContents()).toEqual(["youhello from a real browser"]);
    expect(await assistantTexts(page)).toEqual([finalText]);
    expect(await storedEverywhere(page)).not.toContain(TOKEN);

    // Opening the link with the token again (a fresh load) shows the same history.
    await page.goto("about:blank");
    await page.goto(`${t.httpUrl}/#token=${TOKEN}`);
    await waitConnected(page);
    await page.locator("#log .msg.assistant").first().waitFor();
    expect(await assistantTexts(page)).toEqual([finalText]);
    expect(await page.evaluate(() => location.hash)).toBe("");

    expect(sockets).toEqual(Array(3).fill(`${t.wsUrl}/`)); // the token is never in a URL
    expect(problems).toEqual([]);
  }, 60_000);

  test("Stop on a slow reply: ends aborted, the partial text stays, chat.history has the partial", async () => {
    // 400 chunks at 20/s: 20 s if nobody stops it.
    const t = await gateway("anthropic/sim@tokens=400,rate=20");
    const { page, problems, sent } = await watchedPage();
    await page.goto(`${t.httpUrl}/#token=${TOKEN}`);
    await waitConnected(page);
    await page.locator("#text").fill("a long story please");
    await page.locator("#go").click();
    // Wait until a few words have streamed in, then click Stop.
    await page.waitForFunction(() =>
      /\bw5\b/.test(document.querySelector("#log .msg.assistant span:last-child")?.textContent ?? ""),
    );
    await page.locator("#stop").click();
    await page.locator("#log .note").filter({ hasText: "[aborted]" }).waitFor();
    await page.waitForFunction(() => document.getElementById("stop").hidden);
    const shown = (await assistantTexts(page))[0] ?? "";
    expect(shown).toStartWith("You said: a long story please.");
    expect(shown).not.toContain(" w399");

    // What the gateway kept: the run aborted, history with the partial message.
    const c = await connected(t.wsUrl);
    clients.push(c);
    const h = (await c.call("chat.history", { sessionKey: "main" })).payload as {
      messages: { role: string; content: { text: string }[]; stopReason?: string }[];
    };
    expect(h.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
    // The partial text, then the gateway's notice as the last block (issue 11 finding 1).
    const kept =
      h.messages[1]?.content
        .slice(0, -1)
        .map((b) => b.text)
        .join("") ?? "";
    expect(h.messages[1]?.content.at(-1)?.text).toBe("⏹ Stopped by the user.");
    expect(kept).toStartWith("You said: a long story please.");
    expect(kept).not.toContain(" w399");
    // The page shows what was stored (the abort's final payload carries the partial text).
    expect(shown).toBe(kept);
    expect(h.messages[1]?.stopReason).toBe("aborted");
    const runId = sent.find((f) => f.method === "chat.send")?.params?.idempotencyKey as string;
    expect(sent.find((f) => f.method === "chat.abort")?.params).toEqual({ sessionKey: "main", runId });
    const run = t.store.getRun(runId);
    expect(run?.state).toBe("aborted");
    expect(run?.partialText).toBe(kept);

    // A reload shows the partial reply, marked as aborted.
    await page.goto("about:blank");
    await page.goto(`${t.httpUrl}/#token=${TOKEN}`);
    await waitConnected(page);
    await page.locator("#log .note").filter({ hasText: "⏹ Stopped by the user." }).waitFor();
    expect(await assistantTexts(page)).toEqual([kept]);

    // The page can chat again after the abort.
    await page.locator("#text").fill("next");
    await page.keyboard.press("Enter");
    await page.locator("#log .msg.assistant").nth(1).waitFor();
    expect(problems).toEqual([]);
  }, 60_000);

  test("sessions (list, New, switch), the model and SIMULATOR shown, images attached by picker and paste (issue 9 item 7)", async () => {
    const t = await gateway("anthropic/sim@tokens=5");
    const { page, problems, sent } = await watchedPage();
    await page.goto(`${t.httpUrl}/#token=${TOKEN}`);
    await waitConnected(page);
    // The model that answers, and the simulator badge (the AI server's /healthz says simulator).
    await page.locator("#model").filter({ hasText: "model: anthropic/sim@tokens=5" }).waitFor();
    await page.locator("#sim").filter({ hasText: "SIMULATOR" }).waitFor({ state: "visible" });

    await page.locator("#text").fill("in main");
    await page.keyboard.press("Enter");
    await page.waitForFunction(
      () => document.getElementById("stop").hidden && !document.getElementById("go").disabled,
    );
    expect((await assistantTexts(page))[0]).toStartWith("You said: in main.");

    // New: an empty session, selected; its first message has a context of its own.
    await page.locator("#new").click();
    await page.waitForFunction(
      () => (document.getElementById("session") as unknown as { value: string }).value !== "main",
    );
    const fresh = await page.locator("#session").inputValue();
    expect(await page.locator("#log .msg").count()).toBe(0);
    await page.locator("#text").fill("in the new one");
    await page.keyboard.press("Enter");
    await page.locator("#log .msg.assistant").first().waitFor();
    await page.waitForFunction(() => document.getElementById("stop").hidden);
    expect(await assistantTexts(page)).toHaveLength(1);
    expect((await assistantTexts(page))[0]).toStartWith("You said: in the new one.");
    const stored = t.store.findSession(fresh);
    expect(t.store.listMessages(stored?.id as string).map((m) => m.role)).toEqual(["user", "assistant"]);
    expect(sent.filter((f) => f.method === "chat.send").at(-1)?.params?.sessionKey).toBe(fresh);

    // Switch back to main: its history, and both sessions in the list.
    await page.locator("#session").selectOption("main");
    await page.locator("#log .msg.user").filter({ hasText: "in main" }).waitFor();
    expect(await assistantTexts(page)).toHaveLength(1);
    expect((await assistantTexts(page))[0]).toStartWith("You said: in main.");
    const options = await page
      .locator("#session option")
      .evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));
    expect(options).toContain("main");
    expect(options).toContain(fresh);

    // Images: one from the picker, one pasted; a text file is refused with a note.
    const png = Buffer.from(PNG_1X1, "base64");
    await page.locator("#file").setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: png });
    await page.locator("#pending img").first().waitFor();
    await page.evaluate((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], "pasted.png", { type: "image/png" }));
      document
        .getElementById("text")
        .dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true }));
    }, PNG_1X1);
    await page.waitForFunction(() => document.querySelectorAll("#pending img").length === 2);
    await page
      .locator("#file")
      .setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("hi") });
    await page
      .locator("#log .note")
      .filter({ hasText: "not attached: notes.txt is not a png, jpeg, gif or webp image" })
      .waitFor();
    await page.locator("#text").fill("what is in these");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelectorAll("#log .msg.user img.thumb").length === 2);
    expect(await page.locator("#pending img").count()).toBe(0);
    const send = sent.filter((f) => f.method === "chat.send").at(-1);
    expect(send?.params?.message).toBe("what is in these");
    expect(send?.params?.attachments).toEqual([
      { type: "image", mimeType: "image/png", fileName: "dot.png", content: PNG_1X1 },
      { type: "image", mimeType: "image/png", fileName: "pasted.png", content: PNG_1X1 },
    ]);
    await page.waitForFunction(() => document.getElementById("stop").hidden);
    expect(problems).toEqual([]);
  }, 60_000);

  test("a wrong token: the page shows the auth error and does not reconnect", async () => {
    const t = await gateway("anthropic/sim@tokens=3");
    const { page, problems, sockets, sent } = await watchedPage();
    const upgradesBefore = t.gw.stats().upgrades;
    await page.goto(`${t.httpUrl}/#token=wrong-token-0000`);
    await page.locator("#status").filter({ hasText: "AUTH_TOKEN_MISMATCH" }).waitFor();
    await page.locator("#auth #token").waitFor();
    expect(await page.evaluate(() => location.hash)).toBe("");
    expect(await storedEverywhere(page)).not.toContain("wrong-token-0000");
    // No reconnect: no new socket within 3 s (the page's retry backoff starts at 1 s).
    const another = await page
      .waitForEvent("websocket", { timeout: 3000 })
      .then((ws) => ws.url())
      .catch(() => null);
    expect(another).toBeNull();
    expect(sockets.length).toBe(1);
    expect(t.gw.stats().upgrades - upgradesBefore).toBe(1);
    expect(await page.locator("#status").textContent()).toBe(
      "token rejected: unauthorized: gateway token mismatch [AUTH_TOKEN_MISMATCH]",
    );
    // The token was sent once, in the connect request only.
    expect(sent.map((f) => f.method)).toEqual(["connect"]);

    // The link with the right token opened in the same tab (only the fragment changes) connects.
    await page.goto(`${t.httpUrl}/#token=${TOKEN}`);
    await waitConnected(page);
    expect(await page.evaluate(() => location.hash)).toBe("");
    expect(await page.locator("#auth").isHidden()).toBe(true);
    expect(t.gw.stats().upgrades - upgradesBefore).toBe(2);
    expect(problems).toEqual([]);

    // The watch is not blind: an image (img-src 'none') is reported as a CSP violation.
    await page.evaluate(() => {
      const img = document.createElement("img");
      img.src = "data:image/gif;base64,R0lGODlhAQABAAAAACw=";
      document.body.append(img);
    });
    await waitFor(() => problems.some((p) => p.includes("CSP violation: img-src")), {
      timeoutMs: DEADLINE_MS,
      what: "the CSP violation to be reported",
    });
  }, 60_000);
});
