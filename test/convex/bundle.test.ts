/** convex/ bundles for a web-standard runtime: no `node:` import, no Node builtin, nothing unresolved. */
import { expect, setDefaultTimeout, test } from "bun:test";
import { convexBundleProblems } from "../../scripts/convex-bundle-check.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

test("convex/ bundles with esbuild --platform=neutral without any node: import", async () => {
  expect(await convexBundleProblems()).toEqual([]);
});
