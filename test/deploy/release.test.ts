/**
 * `pipbot release` as a real child process (`bun src/cli.ts release …`) with fake fly, skopeo,
 * docker and git executables on PATH (test/fixtures/deploy/bin/fake-tool.ts): the exact commands
 * and their order, the immutable tag and refs, the dirty-tree guard, the skopeo→docker fallback,
 * failures that stop the release and are recorded as failed, dry runs, rollback and list.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, ROOT, spawnCaptured, tempDir } from "../helpers/index.ts";

const FAKE = join(ROOT, "test/fixtures/deploy/bin/fake-tool.ts");
const SHA = "89abcdef0123456789abcdef0123456789abcdef";
const SHA7 = SHA.slice(0, 7);
const BACKUP = "ghcr.io/acme/pipbot";
const TAG_RE = new RegExp(`deploy-(\\d{14})-${SHA7}`);
const PROVISION = "npx convex env set PIPBOT_IMAGE {ref}";
/** What the fake registries serve (fake-tool.ts): sha256 of these exact bytes. */
const INDEX = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}';
const INDEX_DIGEST = `sha256:${new Bun.CryptoHasher("sha256").update(INDEX).digest("hex")}`;

const temps: { cleanup(): void }[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) t.cleanup();
});

interface Call {
  tool: string;
  argv: string[];
  cwd: string;
}

interface Run {
  code: number;
  output: string;
  calls: Call[];
  records: Record<string, unknown>[];
  dir: string;
}

/**
 * A temp "checkout": the two Fly configs (release runs from the repository root) and a bin/
 * holding executable wrappers for `tools` — the only directory on PATH.
 */
function sandbox(tools: string[]): { dir: string; bin: string; log: string; releaseLog: string } {
  const t = tempDir("pipbot-release-");
  temps.push(t);
  for (const f of ["fly.toml", "fly-integrated.toml", "bun.lock"]) {
    copyFileSync(join(ROOT, f), join(t.path, f));
  }
  // A node_modules pin that matches the copied bun.lock (separate mode checks it).
  mkdirSync(join(t.path, "deploy"));
  const pin = { bunLockSha256: sha256(join(t.path, "bun.lock")) };
  writeFileSync(join(t.path, "deploy/nix-deps.json"), JSON.stringify(pin));
  const bin = join(t.path, "bin");
  mkdirSync(bin);
  for (const tool of tools) {
    const path = join(bin, tool);
    writeFileSync(path, `#!/bin/sh\nexec '${process.execPath}' '${FAKE}' ${tool} "$@"\n`);
    chmodSync(path, 0o755);
  }
  return { dir: t.path, bin, log: join(t.path, "calls.jsonl"), releaseLog: join(t.path, "releases.jsonl") };
}

function sha256(path: string): string {
  return new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
}

function readJsonLines(path: string): Record<string, unknown>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function release(
  args: string[],
  opts: { tools?: string[]; env?: Record<string, string>; box?: ReturnType<typeof sandbox> } = {},
): Promise<Run> {
  const box = opts.box ?? sandbox(opts.tools ?? ["fly", "skopeo", "docker", "git"]);
  const p = spawnCaptured(
    [process.execPath, CLI, "release", ...args],
    {
      PATH: box.bin,
      HOME: box.dir,
      FAKE_TOOLS_LOG: box.log,
      FAKE_GIT_SHA: SHA,
      PIPBOT_RELEASE_LOG: box.releaseLog,
      PIPBOT_PROVISIONING_CMD: PROVISION,
      ...opts.env,
    },
    { cwd: box.dir },
  );
  const code = await p.exited;
  return {
    code,
    output: p.output(),
    calls: readJsonLines(box.log) as unknown as Call[],
    records: readJsonLines(box.releaseLog),
    dir: box.dir,
  };
}

const cmd = (c: Call) => [c.tool, ...c.argv].join(" ");

describe("pipbot release (integrated)", () => {
  test("builds with an immutable tag, backs it up with skopeo, records it and prints the refs", async () => {
    const r = await release(["--backup-repo", BACKUP]);
    expect(r.code).toBe(0);
    const tag = TAG_RE.exec(r.output)?.[0] ?? "";
    expect(tag).toMatch(/^deploy-\d{14}-89abcde$/);
    const ref = `registry.fly.io/pipbot-prod:${tag}`;

    const build = r.calls.find((c) => c.tool === "fly" && c.argv[0] === "deploy");
    const buildArg = build?.argv.find((a) => a.startsWith("BUILD_TIME=")) ?? "";
    const buildTime = buildArg.slice("BUILD_TIME=".length);
    const flags = `--image-label ${tag} -c fly-integrated.toml -a pipbot-prod`;
    const args = `--build-arg GIT_SHA=${SHA} --build-arg BUILD_TIME=${buildTime}`;
    expect(build?.argv.join(" ")).toBe(`deploy --build-only --push ${flags} ${args}`);
    // The build time is the tag's timestamp, as ISO UTC.
    const stamp = tag.slice("deploy-".length, "deploy-".length + 14);
    expect(buildTime.replace(/[-:TZ]/g, "")).toBe(stamp);
    expect(build?.cwd).toBe(r.dir);

    expect(r.calls.map(cmd)).toEqual([
      "git rev-parse HEAD",
      "git status --porcelain",
      `fly ${build?.argv.join(" ")}`,
      "fly auth docker",
      `skopeo copy --all --preserve-digests docker://${ref} docker://${BACKUP}:${tag}`,
      `skopeo inspect --raw docker://${ref}`,
      `skopeo inspect --raw docker://${BACKUP}:${tag}`,
    ]);
    expect(r.output).toContain(`same digest: ${INDEX_DIGEST}`);

    // The ref is computed from the label, never scraped from fly's output (the fake prints a
    // decoy "image:" line; only that line may mention it).
    expect(r.output).toContain(`Released ${ref}`);
    expect(r.output.split("\n").filter((l) => l.includes("scraped"))).toHaveLength(1);
    expect(r.output).toContain(`npx convex env set PIPBOT_IMAGE ${ref}`);
    expect(r.output).toContain(`fly machine update <machine-id> --app <user-app> --image ${ref}`);

    expect(r.records).toHaveLength(1);
    expect(r.records[0]).toMatchObject({
      action: "release",
      status: "released",
      mode: "integrated",
      app: "pipbot-prod",
      config: "fly-integrated.toml",
      tag,
      ref,
      sha: SHA,
      dirty: false,
      backupRef: `${BACKUP}:${tag}`,
      digest: INDEX_DIGEST,
    });
    expect(typeof r.records[0]?.time).toBe("string");
  });

  test("PIPBOT_BACKUP_REPO and PIPBOT_PROVISIONING_CMD are honoured", async () => {
    const env = { PIPBOT_BACKUP_REPO: "ghcr.io/other/img", PIPBOT_PROVISIONING_CMD: "set-image --ref={ref}" };
    const r = await release([], { env });
    expect(r.code).toBe(0);
    const tag = TAG_RE.exec(r.output)?.[0] ?? "";
    expect(r.calls.at(-1)?.argv.at(-1)).toBe(`docker://ghcr.io/other/img:${tag}`);
    expect(r.output).toContain(`set-image --ref=registry.fly.io/pipbot-prod:${tag}`);
  });

  test("without PIPBOT_PROVISIONING_CMD an integrated release refuses to start (a dry run warns)", async () => {
    const env = { PIPBOT_PROVISIONING_CMD: "" };
    const r = await release(["--backup-repo", BACKUP], { env });
    expect(r.code).toBe(2);
    expect(r.output).toContain("PIPBOT_PROVISIONING_CMD is not set");
    expect(r.output).toContain("{ref}");
    expect(r.calls).toEqual([]);
    expect(r.records).toEqual([]);

    const dry = await release(["--backup-repo", BACKUP, "--dry-run"], { env });
    expect(dry.code).toBe(0);
    expect(dry.output).toContain("warning: PIPBOT_PROVISIONING_CMD is not set");
    expect(dry.output).toMatch(
      /\(PIPBOT_PROVISIONING_CMD is not set\) store registry\.fly\.io\/pipbot-prod:deploy-/,
    );
  });

  test("a template without {ref} gets the ref appended", async () => {
    const r = await release(["--no-backup"], { env: { PIPBOT_PROVISIONING_CMD: "./set-image.sh" } });
    expect(r.code).toBe(0);
    const tag = TAG_RE.exec(r.output)?.[0] ?? "";
    expect(r.output).toContain(`  ./set-image.sh registry.fly.io/pipbot-prod:${tag}\n`);
  });

  test("falls back to docker buildx imagetools (a registry-to-registry carbon copy) without skopeo", async () => {
    const r = await release(["--backup-repo", BACKUP], { tools: ["fly", "docker", "git"] });
    expect(r.code).toBe(0);
    const tag = TAG_RE.exec(r.output)?.[0] ?? "";
    const ref = `registry.fly.io/pipbot-prod:${tag}`;
    expect(r.calls.slice(3).map(cmd)).toEqual([
      "fly auth docker",
      `docker buildx imagetools create --prefer-index=false --tag ${BACKUP}:${tag} ${ref}`,
      `docker buildx imagetools inspect --raw ${ref}`,
      `docker buildx imagetools inspect --raw ${BACKUP}:${tag}`,
    ]);
    expect(r.records[0]).toMatchObject({ status: "released", digest: INDEX_DIGEST });
  });

  test("a backup under another digest fails the release (recorded), naming both digests", async () => {
    const single = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}';
    const r = await release(["--backup-repo", BACKUP], { env: { FAKE_BACKUP_MANIFEST: single } });
    expect(r.code).toBe(1);
    const tag = TAG_RE.exec(r.output)?.[0] ?? "";
    const other = `sha256:${new Bun.CryptoHasher("sha256").update(single).digest("hex")}`;
    expect(r.output).toContain(
      `the backup ${BACKUP}:${tag} has digest ${other}, but the pushed registry.fly.io/pipbot-prod:${tag} has ${INDEX_DIGEST}`,
    );
    expect(r.output).toContain('step "backup verify" failed (exit 1)');
    expect(r.output).toContain("WAS pushed, but its backup copy failed");
    const retry = r.output.slice(r.output.indexOf("Retry the copy with:"));
    expect(retry).toContain(
      `skopeo copy --all --preserve-digests docker://registry.fly.io/pipbot-prod:${tag}`,
    );
    expect(retry).toContain(`skopeo inspect --raw docker://${BACKUP}:${tag}`);
    expect(r.output).not.toContain("Released registry.fly.io");
    expect(r.output).not.toContain("npx convex env set");
    expect(r.records).toHaveLength(1);
    expect(r.records[0]).toMatchObject({ status: "failed", failedStep: "backup verify", exitCode: 1 });
    expect(r.records[0]?.digest).toBeUndefined();
  });

  test("a backup whose manifest cannot be read fails the release", async () => {
    const r = await release(["--backup-repo", BACKUP], { env: { FAKE_FAIL: "skopeo:inspect=1" } });
    expect(r.code).toBe(1);
    expect(r.output).toContain("could not read the digest of registry.fly.io/pipbot-prod:");
    expect(r.records[0]).toMatchObject({ status: "failed", failedStep: "backup verify" });
  });

  test("refuses a dirty work tree (nothing built); --allow-dirty releases it as <sha>-dirty", async () => {
    const env = { FAKE_GIT_STATUS: " M src/cli.ts\n?? notes.txt\n" };
    const refused = await release(["--backup-repo", BACKUP], { env });
    expect(refused.code).toBe(1);
    expect(refused.output).toContain("uncommitted changes (2 paths)");
    expect(refused.output).toContain("src/cli.ts");
    expect(refused.output).toContain("--allow-dirty");
    expect(refused.calls.some((c) => c.tool === "fly")).toBe(false);
    expect(refused.records).toEqual([]);

    const allowed = await release(["--backup-repo", BACKUP, "--allow-dirty"], { env });
    expect(allowed.code).toBe(0);
    const build = allowed.calls.find((c) => c.tool === "fly" && c.argv[0] === "deploy");
    expect(build?.argv).toContain(`GIT_SHA=${SHA}-dirty`);
    expect(allowed.records[0]).toMatchObject({ status: "released", dirty: true, sha: SHA });
  });

  test("the default release log is ./.release-log.jsonl, and it does not make the tree dirty", async () => {
    const box = sandbox(["fly", "skopeo", "git"]);
    const env = { PIPBOT_RELEASE_LOG: "", FAKE_GIT_STATUS: "?? .release-log.jsonl\n" };
    const first = await release(["--backup-repo", BACKUP], { box, env });
    expect(first.output).not.toContain("uncommitted changes");
    expect(first.code).toBe(0);
    const second = await release(["--backup-repo", BACKUP], { box, env });
    expect(second.code).toBe(0);
    const records = readJsonLines(join(box.dir, ".release-log.jsonl"));
    expect(records.map((r) => r.status)).toEqual(["released", "released"]);
    // The second release points at the first as the rollback target.
    expect(second.output).toContain(`pipbot release rollback ${String(records[0]?.tag)}`);
  });

  test("a failed backup copy fails the release, says the image was pushed, and is recorded as failed", async () => {
    const r = await release(["--backup-repo", BACKUP], { env: { FAKE_FAIL: "skopeo=3" } });
    expect(r.code).toBe(1);
    expect(r.output).toContain('step "backup copy" failed (exit 3)');
    expect(r.output).toContain("WAS pushed, but its backup copy failed");
    expect(r.output).toContain("skopeo copy --all --preserve-digests docker://registry.fly.io/pipbot-prod:");
    expect(r.output).not.toContain("Released registry.fly.io");
    expect(r.output).not.toContain("npx convex env set");
    expect(r.records).toHaveLength(1);
    expect(r.records[0]).toMatchObject({ status: "failed", failedStep: "backup copy", exitCode: 3 });
  });

  test("a failed docker copy (no skopeo) fails the release and prints only what is left to retry", async () => {
    const r = await release(["--backup-repo", BACKUP], {
      tools: ["fly", "docker", "git"],
      env: { FAKE_FAIL: "docker:buildx=1" },
    });
    expect(r.code).toBe(1);
    const tag = TAG_RE.exec(r.output)?.[0] ?? "";
    expect(r.output).toContain('step "backup copy" failed (exit 1)');
    expect(r.output).toContain("WAS pushed, but its backup copy failed");
    const retry = r.output.slice(r.output.indexOf("Retry the copy with:"));
    expect(retry).toContain(`docker buildx imagetools create --prefer-index=false --tag ${BACKUP}:${tag}`);
    expect(retry).not.toContain("fly deploy");
    expect(r.output).not.toContain("Released registry.fly.io");
    expect(r.records[0]).toMatchObject({ status: "failed", failedStep: "backup copy", exitCode: 1 });
  });

  test("a release log that cannot be written fails the release after saying what was done", async () => {
    const box = sandbox(["fly", "skopeo", "git"]);
    writeFileSync(join(box.dir, "not-a-dir"), "");
    const env = { PIPBOT_RELEASE_LOG: join(box.dir, "not-a-dir", "releases.jsonl") };
    const r = await release(["--backup-repo", BACKUP], { box, env });
    expect(r.code).toBe(1);
    expect(r.output).toContain("could not append to the release log");
    expect(r.output).toContain("was built and backed up, but the release log could not be written");
    expect(r.output).not.toContain("Released registry.fly.io");
  });

  // Each failing step stops the release, names itself with its exit code, runs nothing after it,
  // and (once the tag exists) is recorded as failed.
  const FAILURES = [
    {
      fail: "git:rev-parse=128",
      step: "git",
      code: 128,
      says: "git rev-parse HEAD",
      never: "fly",
      recorded: false,
    },
    {
      fail: "fly:deploy=2",
      step: "build",
      code: 2,
      says: "fly deploy --build-only",
      never: "fly auth",
      recorded: true,
    },
    {
      fail: "fly:auth=1",
      step: "registry login",
      code: 1,
      says: "fly auth docker",
      never: "skopeo",
      recorded: true,
    },
  ];
  test.each(FAILURES)("a failing $step step stops the release ($fail)", async (f) => {
    const r = await release(["--backup-repo", BACKUP], { env: { FAKE_FAIL: f.fail } });
    expect(r.code).toBe(1);
    expect(r.output).toContain(`step "${f.step}" failed (exit ${f.code}): ${f.says}`);
    expect(r.calls.map(cmd).some((c) => c.startsWith(f.never))).toBe(false);
    expect(r.output).not.toContain("Released registry.fly.io");
    const expected = f.recorded ? [{ status: "failed", failedStep: f.step, exitCode: f.code }] : [];
    expect(r.records).toMatchObject(expected);
  });

  test("--dry-run prints every command and runs nothing but read-only git", async () => {
    const r = await release(["--backup-repo", BACKUP, "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => c.tool)).toEqual(["git", "git"]);
    expect(r.output).toContain("$ fly deploy --build-only --push --image-label deploy-");
    expect(r.output).toContain("$ fly auth docker");
    expect(r.output).toContain(
      `$ skopeo copy --all --preserve-digests docker://registry.fly.io/pipbot-prod:deploy-`,
    );
    expect(r.output).toContain(`$ skopeo inspect --raw docker://${BACKUP}:deploy-`);
    expect(r.output).toContain("nothing was built, pushed, copied or recorded");
    expect(r.records).toEqual([]);
  });

  test("usage errors: no backup registry, a tagged backup repo, an unknown mode (exit 2, nothing run)", async () => {
    for (const args of [[], ["--backup-repo", `${BACKUP}:latest`], ["--mode", "both", "--no-backup"]]) {
      const r = await release(args);
      expect(`${args.join(" ")} → ${r.code}`).toBe(`${args.join(" ")} → 2`);
      expect(r.calls).toEqual([]);
      expect(r.output).toContain("usage: pipbot release");
    }
  });

  test("missing tools fail before anything is built", async () => {
    const noCopy = await release(["--backup-repo", BACKUP], { tools: ["fly", "git"] });
    expect(noCopy.code).toBe(1);
    expect(noCopy.output).toContain("neither skopeo nor docker");
    expect(noCopy.calls).toEqual([]);
    const noFly = await release(["--no-backup"], { tools: ["git"] });
    expect(noFly.code).toBe(1);
    expect(noFly.output).toContain("fly (flyctl) is not on PATH");
  });
});

describe("pipbot release --mode separate", () => {
  test("builds the AI server app from fly.toml; --app overrides the app", async () => {
    const r = await release(["--mode", "separate", "--backup-repo", "ghcr.io/acme/pipbot-ai"]);
    expect(r.code).toBe(0);
    const build = r.calls.find((c) => c.tool === "fly" && c.argv[0] === "deploy");
    expect(build?.argv.slice(5, 9)).toEqual(["-c", "fly.toml", "-a", "pipbot-ai"]);
    expect(r.output).toContain("Released registry.fly.io/pipbot-ai:deploy-");
    expect(r.records[0]).toMatchObject({ mode: "separate", app: "pipbot-ai", config: "fly.toml" });

    const other = await release(["--mode", "separate", "--app", "pipbot-ai-staging", "--no-backup"]);
    expect(other.code).toBe(0);
    expect(other.calls.map(cmd).join("\n")).toContain("-c fly.toml -a pipbot-ai-staging");
    const copied = other.calls.some((c) => c.tool === "skopeo" || (c.tool === "fly" && c.argv[0] === "auth"));
    expect(copied).toBe(false);
    expect(other.output).toContain("backup   none (--no-backup)");
  });

  test("prints the AI app's own rollout, not provisioning (no PIPBOT_PROVISIONING_CMD needed)", async () => {
    const r = await release(["--mode", "separate", "--no-backup"], { env: { PIPBOT_PROVISIONING_CMD: "" } });
    expect(r.code).toBe(0);
    const tag = TAG_RE.exec(r.output)?.[0] ?? "";
    const ref = `registry.fly.io/pipbot-ai:${tag}`;
    expect(r.output).toContain(`  fly deploy --image ${ref} -c fly.toml -a pipbot-ai\n`);
    expect(r.output).toContain(`  fly machine update <machine-id> --app pipbot-ai --image ${ref}\n`);
    expect(r.output).not.toContain("provisioning");
    expect(r.output).not.toContain("PIPBOT_IMAGE");
  });

  test("refuses to build when deploy/nix-deps.json was computed for another bun.lock", async () => {
    const box = sandbox(["fly", "skopeo", "git"]);
    writeFileSync(join(box.dir, "bun.lock"), `${readFileSync(join(box.dir, "bun.lock"), "utf8")}\n`);
    const r = await release(["--mode", "separate", "--no-backup"], { box });
    expect(r.code).toBe(1);
    expect(r.output).toContain("deploy/nix-deps.json was computed for another bun.lock");
    expect(r.output).toContain(sha256(join(box.dir, "bun.lock")));
    expect(r.calls).toEqual([]);
    // Integrated mode does not build with Nix and is not affected.
    expect((await release(["--no-backup"], { box })).code).toBe(0);
  });
});

describe("pipbot release rollback / list", () => {
  test("rollback redeploys an earlier tag, records it, and list shows the history", async () => {
    const box = sandbox(["fly", "skopeo", "git"]);
    const first = await release(["--backup-repo", BACKUP], { box });
    expect(first.code).toBe(0);
    const tag = TAG_RE.exec(first.output)?.[0] ?? "";

    const rb = await release(["rollback", tag], { box });
    expect(rb.code).toBe(0);
    const deploy = rb.calls.at(-1);
    expect(deploy && cmd(deploy)).toBe(
      `fly deploy --image registry.fly.io/pipbot-prod:${tag} -c fly-integrated.toml -a pipbot-prod`,
    );
    expect(rb.output).toContain("config and secrets are NOT rolled back");
    expect(rb.output).toContain(`npx convex env set PIPBOT_IMAGE registry.fly.io/pipbot-prod:${tag}`);
    expect(rb.output).not.toContain("warning:");
    expect(rb.records.at(-1)).toMatchObject({ action: "rollback", status: "rolled-back", tag });

    const listed = await release(["list"], { box });
    expect(listed.code).toBe(0);
    const lines = listed.output.trim().split("\n");
    expect(lines[0]).toMatch(/^TIME\s+ACTION\s+STATUS/);
    expect(lines.filter((l) => l.includes(tag))).toHaveLength(2);
    expect(listed.output).toContain("rolled-back");

    const json = await release(["list", "--json"], { box });
    expect(
      json.output
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).action),
    ).toEqual(["release", "rollback"]);
  });

  test("rollback warns about an unknown tag, refuses `latest`, and a failed deploy is recorded", async () => {
    const box = sandbox(["fly", "git"]);
    const unknown = await release(["rollback", "deploy-20260101000000-abcdef0"], { box });
    expect(unknown.code).toBe(0);
    expect(unknown.output).toContain("warning: deploy-20260101000000-abcdef0 is not a successful release");

    const latest = await release(["rollback", "latest"], { box });
    expect(latest.code).toBe(2);
    expect(latest.output).toContain("moving pointer");

    const failed = await release(["rollback", "deploy-20260101000000-abcdef0"], {
      box,
      env: { FAKE_FAIL: "fly:deploy=5" },
    });
    expect(failed.code).toBe(1);
    expect(failed.output).toContain('step "deploy" failed (exit 5)');
    expect(failed.records.at(-1)).toMatchObject({ action: "rollback", status: "failed", exitCode: 5 });
  });

  test("rollback in separate mode redeploys the AI app and prints nothing about provisioning", async () => {
    const r = await release(["rollback", "deploy-20260101000000-abcdef0", "--mode", "separate"]);
    expect(r.code).toBe(0);
    expect(r.calls.map(cmd)).toEqual([
      "fly deploy --image registry.fly.io/pipbot-ai:deploy-20260101000000-abcdef0 -c fly.toml -a pipbot-ai",
    ]);
    expect(r.output).not.toContain("provisioning");
  });

  test("list on an empty log says so", async () => {
    const r = await release(["list"]);
    expect(r.code).toBe(0);
    expect(r.output).toContain("no releases recorded");
  });
});
