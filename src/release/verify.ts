/**
 * After the backup copy: read the manifest of the pushed image and of its backup exactly as each
 * registry stores it, and compare their sha256 digests. A backup under another digest (a copy
 * that picked one platform out of an index, or rewrote the manifest) is not the released image,
 * so the release fails instead of recording it.
 */
import { type BackupTool, rawManifestCommand, type Step, shellQuote } from "./plan.ts";
import type { Exec } from "./steps.ts";

export type VerifyResult =
  | { ok: true; digest: string }
  | { ok: false; step: string; code: number; command: string; message: string };

export const VERIFY_STEP = "backup verify";

export function sha256Digest(bytes: string): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
}

/** The two reads the check runs, for --dry-run and the retry hint. */
export function verifySteps(tool: BackupTool, ref: string, backupRef: string): Step[] {
  return [
    { name: VERIFY_STEP, what: `read the digest of ${ref}`, cmd: rawManifestCommand(tool, ref) },
    { name: VERIFY_STEP, what: `read the digest of ${backupRef}`, cmd: rawManifestCommand(tool, backupRef) },
  ];
}

export async function verifyBackup(
  exec: Exec,
  tool: BackupTool,
  ref: string,
  backupRef: string,
): Promise<VerifyResult> {
  const digests: string[] = [];
  for (const step of verifySteps(tool, ref, backupRef)) {
    const r = await exec(step.cmd, { capture: true });
    const command = shellQuote(step.cmd);
    if (r.code !== 0 || r.stdout.trim() === "") {
      const why = r.stderr.trim() || "no manifest printed";
      return {
        ok: false,
        step: VERIFY_STEP,
        code: r.code || 1,
        command,
        message: `could not ${step.what}: ${why}`,
      };
    }
    digests.push(sha256Digest(r.stdout));
  }
  const [pushed = "", backup = ""] = digests;
  if (pushed !== backup) {
    return {
      ok: false,
      step: VERIFY_STEP,
      code: 1,
      command: shellQuote(rawManifestCommand(tool, backupRef)),
      message: `the backup ${backupRef} has digest ${backup}, but the pushed ${ref} has ${pushed}: it is not the same image`,
    };
  }
  return { ok: true, digest: pushed };
}
