/**
 * Headless Chromium for the browser tests (Debian's `chromium`, driven by playwright-core; no
 * browser download): where it is, when the tests may skip, the launch flags, and the launch itself.
 *
 * Chromium missing → launchChromium() throws, so the tests FAIL (.ci/run installs it). Locally,
 * `PIPBOT_SKIP_BROWSER=1` skips them (never under CI=true).
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.PIPBOT_CHROMIUM || "/usr/bin/chromium";

/** True when the browser tests are skipped: PIPBOT_SKIP_BROWSER=1 outside CI. */
export const SKIP_BROWSER = process.env.PIPBOT_SKIP_BROWSER === "1" && !process.env.CI;

/** Headless, no sandbox (root in a container), and none of Chromium's own background traffic. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches CHROMIUM with CHROMIUM_ARGS; a missing binary is an error saying how to install or skip. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium; ` +
        ".ci/run does it), or set PIPBOT_SKIP_BROWSER=1 to skip the browser tests locally",
    );
  return await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
