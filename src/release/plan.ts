/**
 * What a release or a rollback does, as data: the immutable tag, the image refs (computed from
 * the label, never scraped from `fly deploy` output) and the exact command of each step. Pure
 * functions of their inputs: no environment, no processes.
 */

export type Mode = "integrated" | "separate";
export const MODES: Mode[] = ["integrated", "separate"];

/** The Fly config each mode deploys (its [build] names the Dockerfile). */
export const CONFIG_FOR_MODE: Record<Mode, string> = {
  integrated: "fly-integrated.toml",
  separate: "fly.toml",
};

export const FLY_REGISTRY = "registry.fly.io";
/**
 * The provisioning backend (outside this repository) creates every user machine from an image
 * ref it stores; only the operator knows the command that updates it, so there is NO default:
 * `PIPBOT_PROVISIONING_CMD` (with `{ref}`) must be set for an integrated release.
 */
export const PROVISIONING_CMD_HELP =
  "PIPBOT_PROVISIONING_CMD is not set: pipbot cannot tell you how to point provisioning at the new image.\n" +
  "  Set it to the command that updates the image ref your provisioning backend creates user machines from,\n" +
  "  with {ref} where the ref goes, e.g. PIPBOT_PROVISIONING_CMD='npx convex env set PIPBOT_IMAGE {ref}' when\n" +
  '  provisioning reads process.env.PIPBOT_IMAGE (docs/DEPLOY.md, "Provisioning")';

export interface Step {
  /** Short name used in progress lines and failure messages ("build", "backup copy"…). */
  name: string;
  /** What the step achieves, one line. */
  what: string;
  cmd: string[];
}

export type BackupTool = "skopeo" | "docker";

export interface ReleasePlan {
  mode: Mode;
  app: string;
  config: string;
  sha: string;
  buildSha: string;
  tag: string;
  ref: string;
  buildTime: string;
  backupRef: string | null;
  /** How the backup is copied and then checked (null without a backup). */
  backupTool: BackupTool | null;
  steps: Step[];
}

export interface RollbackPlan {
  mode: Mode;
  app: string;
  config: string;
  tag: string;
  ref: string;
  steps: Step[];
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** YYYYMMDDHHMMSS in UTC. */
export function utcStamp(d: Date): string {
  return (
    pad(d.getUTCFullYear(), 4) +
    pad(d.getUTCMonth() + 1) +
    pad(d.getUTCDate()) +
    pad(d.getUTCHours()) +
    pad(d.getUTCMinutes()) +
    pad(d.getUTCSeconds())
  );
}

/** ISO-8601 UTC to the second, e.g. 2026-11-23T03:04:05Z. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export const RELEASE_TAG_RE = /^deploy-\d{14}-[0-9a-f]{7}$/;

/** The immutable release tag: deploy-<UTC YYYYMMDDHHMMSS>-<git sha7>. */
export function releaseTag(now: Date, sha: string): string {
  return `deploy-${utcStamp(now)}-${sha.slice(0, 7)}`;
}

export function imageRef(app: string, tag: string): string {
  return `${FLY_REGISTRY}/${app}:${tag}`;
}

export function parseMode(value: string | undefined): Mode | null {
  const v = value ?? "integrated";
  return (MODES as string[]).includes(v) ? (v as Mode) : null;
}

/** null when fine, else the problem. */
export function checkTag(tag: string): string | null {
  if (tag === "latest") {
    return "`latest` is a moving pointer, not a release: name an immutable tag (see `pipbot release list`)";
  }
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) return `"${tag}" is not a valid image tag`;
  return null;
}

export function checkAppName(app: string): string | null {
  if (/^[a-z0-9][a-z0-9-]{0,62}$/.test(app)) return null;
  return `"${app}" is not a Fly app name (lowercase letters, digits, -)`;
}

export function checkBackupRepo(repo: string): string | null {
  const path = repo.split("/").slice(1).join("/");
  if (path.includes(":") || repo.includes("@")) {
    return `backup repository "${repo}" must not carry a tag or digest (the release tag is added)`;
  }
  if (!/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+$/.test(repo)) {
    return `backup repository "${repo}" must look like ghcr.io/OWNER/NAME (lowercase)`;
  }
  return null;
}

export function planRelease(o: {
  mode: Mode;
  app: string;
  config: string;
  sha: string;
  dirty: boolean;
  now: Date;
  backupRepo: string | null;
  backupTool: BackupTool | null;
}): ReleasePlan {
  const tag = releaseTag(o.now, o.sha);
  const ref = imageRef(o.app, tag);
  const buildTime = isoSeconds(o.now);
  const buildSha = o.dirty ? `${o.sha}-dirty` : o.sha;
  const steps: Step[] = [
    {
      name: "build",
      what: `build ${o.config} and push ${ref}`,
      cmd: [
        "fly",
        "deploy",
        "--build-only",
        "--push",
        "--image-label",
        tag,
        "-c",
        o.config,
        "-a",
        o.app,
        "--build-arg",
        `GIT_SHA=${buildSha}`,
        "--build-arg",
        `BUILD_TIME=${buildTime}`,
      ],
    },
  ];
  const backupRef = o.backupRepo ? `${o.backupRepo}:${tag}` : null;
  if (backupRef) {
    steps.push({
      name: "registry login",
      what: `let ${o.backupTool ?? "the copy"} read ${FLY_REGISTRY}`,
      cmd: ["fly", "auth", "docker"],
    });
    steps.push({
      name: "backup copy",
      what: `copy ${ref} to ${backupRef}, byte for byte (every platform, same digest)`,
      cmd: backupCopyCommand(o.backupTool ?? "skopeo", ref, backupRef),
    });
  }
  const { mode, app, config, sha } = o;
  const backupTool = backupRef ? (o.backupTool ?? "skopeo") : null;
  return { mode, app, config, sha, buildSha, tag, ref, buildTime, backupRef, backupTool, steps };
}

/**
 * The backup copy. Fly's builder pushes an image INDEX; a plain `skopeo copy` (or docker
 * pull/tag/push) copies one platform's manifest instead, under ANOTHER digest. `--all` copies
 * the index and every manifest in it, `--preserve-digests` fails rather than change a byte.
 * docker: `buildx imagetools create` with one source is a registry-to-registry carbon copy
 * (`--prefer-index=false` keeps a single manifest single).
 */
export function backupCopyCommand(tool: BackupTool, ref: string, backupRef: string): string[] {
  if (tool === "docker") {
    return ["docker", "buildx", "imagetools", "create", "--prefer-index=false", "--tag", backupRef, ref];
  }
  return ["skopeo", "copy", "--all", "--preserve-digests", `docker://${ref}`, `docker://${backupRef}`];
}

/** Prints `ref`'s manifest exactly as the registry stores it (its sha256 is the digest). */
export function rawManifestCommand(tool: BackupTool, ref: string): string[] {
  if (tool === "docker") return ["docker", "buildx", "imagetools", "inspect", "--raw", ref];
  return ["skopeo", "inspect", "--raw", `docker://${ref}`];
}

export function planRollback(o: { mode: Mode; app: string; config: string; tag: string }): RollbackPlan {
  const ref = imageRef(o.app, o.tag);
  return {
    ...o,
    ref,
    steps: [
      {
        name: "deploy",
        what: `redeploy ${o.app}'s own machines with ${ref}`,
        cmd: ["fly", "deploy", "--image", ref, "-c", o.config, "-a", o.app],
      },
    ],
  };
}

/** The command that points provisioning at `ref` (template with {ref}, or ref appended). */
export function provisioningCommand(template: string, ref: string): string {
  return template.includes("{ref}") ? template.replaceAll("{ref}", ref) : `${template} ${ref}`;
}

export function machineUpdateCommand(ref: string, app = "<user-app>"): string {
  return `fly machine update <machine-id> --app ${app} --image ${ref}`;
}

/**
 * What to run after a release (or, `deployed`, after a rollback that already redeployed the app's
 * own machines) to put `ref` into service, as [what, command] pairs.
 */
export function rolloutCommands(o: {
  mode: Mode;
  app: string;
  config: string;
  ref: string;
  provisioningTemplate: string | null;
  deployed?: boolean;
}): [string, string][] {
  if (o.mode === "separate") {
    const deploy = shellQuote(["fly", "deploy", "--image", o.ref, "-c", o.config, "-a", o.app]);
    const inPlace = machineUpdateCommand(o.ref, o.app);
    if (o.deployed) return [];
    return [
      ["Roll it out to the AI server app's machines:", deploy],
      ["Or update one of its machines in place:", inPlace],
    ];
  }
  const provision = o.provisioningTemplate
    ? provisioningCommand(o.provisioningTemplate, o.ref)
    : `(PIPBOT_PROVISIONING_CMD is not set) store ${o.ref} where provisioning reads its image ref`;
  return [
    [
      "Point provisioning at it (user machines are created from this stored ref, not from fly.toml):",
      provision,
    ],
    ["Update one running user machine in place (keeps its volume):", machineUpdateCommand(o.ref)],
  ];
}

/** A command line as a POSIX shell would need it typed. */
export function shellQuote(cmd: string[]): string {
  const quote = (a: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
  return cmd.map(quote).join(" ");
}
