/**
 * Bundles every Convex function module the way a web-standard runtime sees it (esbuild,
 * --platform=neutral) and fails on any `node:` import or Node builtin: convex/ must run on web APIs
 * only (crypto.subtle, fetch, streams), since convex-test runs it under Bun and would not notice.
 * `bun scripts/convex-bundle-check.ts` (CI runs it via test/convex/bundle.test.ts).
 */
import { join } from "node:path";
import { build, type Plugin, stop } from "esbuild";

const ROOT = join(import.meta.dir, "..");
const CONVEX = join(ROOT, "convex");

export async function convexBundleProblems(): Promise<string[]> {
  const entryPoints = [...new Bun.Glob("**/*.ts").scanSync(CONVEX)]
    .filter((f) => !f.startsWith("_generated/") && !f.endsWith(".d.ts"))
    .map((f) => join(CONVEX, f));
  const problems: string[] = [];
  const noNode: Plugin = {
    name: "no-node",
    setup(b) {
      b.onResolve(
        {
          filter: /^node:|^(fs|path|os|crypto|http|https|net|tls|stream|child_process|buffer|util|zlib|url)$/,
        },
        (args) => {
          problems.push(`${args.importer.replace(`${ROOT}/`, "")} imports ${args.path}`);
          return { path: args.path, external: true };
        },
      );
    },
  };
  const result = await build({
    entryPoints,
    bundle: true,
    write: false,
    platform: "neutral",
    format: "esm",
    mainFields: ["module", "main"],
    conditions: ["import", "default"],
    outdir: "/tmp/convex-bundle-check",
    logLevel: "silent",
    plugins: [noNode],
  }).catch((e: { errors?: { text: string }[] }) => {
    for (const err of e.errors ?? []) problems.push(err.text);
    return null;
  });
  if (result) for (const w of result.warnings) problems.push(`warning: ${w.text}`);
  await stop(); // the esbuild service process must not outlive the check
  return problems;
}

if (import.meta.main) {
  const problems = await convexBundleProblems();
  for (const p of problems) console.error(`convex bundle: ${p}`);
  console.log(
    problems.length ? `convex bundle check: ${problems.length} problem(s)` : "convex bundle check: ok",
  );
  process.exit(problems.length ? 1 : 0);
}
