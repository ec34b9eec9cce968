/**
 * flake.nix, verified offline where Nix is installed (`apt-get install -y nix-bin`; the tests
 * SKIP otherwise): it parses, and it EVALUATES — `nix flake check --no-build` against the small
 * nixpkgs stub in test/fixtures/deploy/nixpkgs-stub — exposing the packages, images, checks and
 * dev shell, with the same pinned Bun as the Dockerfiles. Nothing is built or downloaded.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { staleNixDeps } from "../../src/release/preflight.ts";
import { ROOT, tempDir } from "../helpers/index.ts";
import { type Captured, runCaptured } from "./lib/run.ts";

const HAVE_NIX = Bun.which("nix") !== null && Bun.which("nix-instantiate") !== null;
const STUB = join(ROOT, "test/fixtures/deploy/nixpkgs-stub");
const FEATURES = ["--extra-experimental-features", "nix-command flakes"];
const FLAKE_FILES = ["flake.nix", "package.json", "bun.lock", "bunfig.toml", "tsconfig.json", "Procfile"];

const temps: { cleanup(): void }[] = [];
afterAll(() => {
  for (const t of temps) t.cleanup();
});

/**
 * A copy of what the flake reads, outside git: a flake inside a git checkout only sees tracked
 * files, and a `path:` flake of the whole repo would copy node_modules into the store.
 */
function flakeCopy(edit?: (flake: string) => string): { dir: string; home: string } {
  const t = tempDir("pipbot-flake-");
  temps.push(t);
  for (const f of [...FLAKE_FILES, "src"]) cpSync(join(ROOT, f), join(t.path, f), { recursive: true });
  mkdirSync(join(t.path, "deploy"));
  cpSync(join(ROOT, "deploy/nix-deps.json"), join(t.path, "deploy/nix-deps.json"));
  if (edit) writeFileSync(join(t.path, "flake.nix"), edit(readFileSync(join(t.path, "flake.nix"), "utf8")));
  const home = join(t.path, ".home");
  mkdirSync(home);
  return { dir: t.path, home };
}

function nix(args: string[], home: string): Promise<Captured> {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_CACHE_HOME: join(home, "cache") };
  return runCaptured(["nix", ...FEATURES, ...args], env);
}

const OVERRIDE = ["--override-input", "nixpkgs", `path:${STUB}`];

/** `nix eval` of one flake attribute: --raw, or --json with an optional --apply function. */
async function evalAttr(f: { dir: string; home: string }, attr: string, apply?: string) {
  const mode = apply ? ["--json", "--apply", apply] : ["--raw"];
  return nix(["eval", ...mode, ...OVERRIDE, `path:${f.dir}#${attr}`], f.home);
}

describe("deploy/nix-deps.json tracks bun.lock (no Nix needed)", () => {
  test("it was computed for THIS bun.lock: change a dependency and this fails until the pin is updated", () => {
    expect(staleNixDeps(ROOT)).toBeNull();
    const pin = JSON.parse(readFileSync(join(ROOT, "deploy/nix-deps.json"), "utf8")) as Record<
      string,
      string
    >;
    expect(pin.nodeModulesHash).toMatch(/^sha256-[A-Za-z0-9+/]{43}=$/);
  });

  test("flake.lock, once committed, locks the nixpkgs branch flake.nix names; until then the build copies flake.lock*", () => {
    const branch = /inputs\.nixpkgs\.url = "github:NixOS\/nixpkgs\/([\w.-]+)"/.exec(
      readFileSync(join(ROOT, "flake.nix"), "utf8"),
    )?.[1];
    expect(branch).toMatch(/^nixos-\d\d\.\d\d$/);
    const lockPath = join(ROOT, "flake.lock");
    if (!existsSync(lockPath)) {
      expect(readFileSync(join(ROOT, "Dockerfile.nix"), "utf8")).toContain("COPY flake.nix flake.lock* ");
      return;
    }
    const lock = JSON.parse(readFileSync(lockPath, "utf8")) as {
      nodes: Record<string, { locked?: { rev?: string; narHash?: string }; original?: { ref?: string } }>;
    };
    expect(lock.nodes.nixpkgs?.original?.ref).toBe(branch);
    expect(lock.nodes.nixpkgs?.locked?.rev).toMatch(/^[0-9a-f]{40}$/);
    expect(lock.nodes.nixpkgs?.locked?.narHash).toMatch(/^sha256-/);
  });

  test("a stale pin is reported with the new bun.lock hash and the fix", () => {
    const t = tempDir("pipbot-nix-deps-");
    temps.push(t);
    mkdirSync(join(t.path, "deploy"));
    cpSync(join(ROOT, "deploy/nix-deps.json"), join(t.path, "deploy/nix-deps.json"));
    writeFileSync(join(t.path, "bun.lock"), `${readFileSync(join(ROOT, "bun.lock"), "utf8")}\n`);
    const problem = staleNixDeps(t.path) ?? "";
    expect(problem).toContain("deploy/nix-deps.json was computed for another bun.lock");
    expect(problem).toContain(
      new Bun.CryptoHasher("sha256").update(readFileSync(join(t.path, "bun.lock"))).digest("hex"),
    );
    expect(problem).toContain("nix build .#nodeModules");
  });
});

describe.skipIf(!HAVE_NIX)("flake.nix (skipped when nix is absent: apt-get install -y nix-bin)", () => {
  test("parses (nix-instantiate --parse)", () => {
    const r = Bun.spawnSync(["nix-instantiate", "--parse", join(ROOT, "flake.nix")], {
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test("evaluates: nix flake check --no-build against the nixpkgs stub", async () => {
    const { dir, home } = flakeCopy();
    const r = await nix(["flake", "check", "--no-build", ...OVERRIDE, `path:${dir}`], home);
    expect(r.err).not.toContain("error:");
    expect(r.code).toBe(0);
  }, 60_000);

  test("exposes the integrated runtime, the AI server, both images, checks and a dev shell", async () => {
    const f = flakeCopy();
    const pkgs = await evalAttr(f, "packages.x86_64-linux", "builtins.attrNames");
    expect(pkgs.code).toBe(0);
    const names = ["pipbot-integrated", "ai-server", "ai-server-bundle", "image", "ai-server-image", "bun"];
    expect(JSON.parse(pkgs.out)).toEqual(expect.arrayContaining([...names, "default"]));
    const darwin = await evalAttr(f, "packages.aarch64-darwin", "builtins.attrNames");
    expect(JSON.parse(darwin.out)).not.toContain("image");
    expect((await evalAttr(f, "devShells.x86_64-linux.default.name")).out).toBe("nix-shell");
    const checks = await evalAttr(f, "checks.x86_64-linux", "builtins.attrNames");
    expect(JSON.parse(checks.out)).toEqual(["bun-version", "cli-loads"]);
  }, 60_000);

  test("pins the same Bun as the Dockerfiles, fetched by exact version and hash", async () => {
    const f = flakeCopy();
    const version = await evalAttr(f, "packages.x86_64-linux.bun.version");
    expect(version.out).toBe("1.4.5");
    expect(readFileSync(join(ROOT, "Dockerfile.integrated"), "utf8")).toContain(`oven/bun:${version.out}-`);
    const url = await evalAttr(f, "packages.x86_64-linux.bun.src.url");
    expect(url.out).toBe("https://registry.npmjs.org/@oven/bun-linux-x64/-/bun-linux-x64-1.4.5.tgz");
  }, 60_000);

  test("the image config: numeric user, tini, CA certificates, /healthz check (dockerTools args)", async () => {
    const f = flakeCopy();
    const cfg = await evalAttr(f, "packages.x86_64-linux.ai-server-image.configJSON");
    expect(cfg.code).toBe(0);
    const c = JSON.parse(cfg.out) as {
      User: string;
      Entrypoint: string[];
      Env: string[];
      Healthcheck: { Test: string[] };
    };
    expect(c.User).toBe("10001:10001");
    expect(c.Entrypoint[0]).toEndWith("-tini/bin/tini");
    const certs = /^SSL_CERT_FILE=\/nix\/store\/.+-nss-cacert\/etc\/ssl\/certs\/ca-bundle\.crt$/;
    expect(c.Env.some((e) => certs.test(e))).toBe(true);
    expect(c.Env).toContain("AI_HOST=::");
    expect(c.Healthcheck.Test.join(" ")).toContain("/healthz");
  }, 60_000);

  test("the check can fail: a typo in the flake is reported", async () => {
    const { dir, home } = flakeCopy((f) => f.replace("pkgs.tini\n", "pkgs.tinii\n"));
    const r = await nix(["flake", "check", "--no-build", ...OVERRIDE, `path:${dir}`], home);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("tinii");
  }, 60_000);
});
