/** convex/ bundles for a web-standard runtime: no `node:` import, no Node builtin, nothing unresolved. */
import { expect, test } from "bun:test";
import { convexBundleProblems } from "../../scripts/convex-bundle-check.ts";

test("convex/ bundles with esbuild --platform=neutral without any node: import", async () => {
  expect(await convexBundleProblems()).toEqual([]);
});
