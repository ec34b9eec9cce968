/**
 * The integrated image's contents, booted for real without Docker: the files the final stage of
 * Dockerfile.integrated holds (simulated from its COPYs, .dockerignore applied), production
 * dependencies only, the build-info.json the image build writes, and fly-integrated.toml's [env]
 * (ports and DATA_DIR moved to a temp dir). The image's CMD starts the supervisor, all three
 * processes get healthy, the identity line shows the baked-in git SHA and build time, and
 * SIGTERM (the image's STOPSIGNAL, Fly's kill_signal) stops everything with exit 0 in the budget.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, ROOT, type RunningProcess, spawnCaptured, tempDir, waitFor } from "../helpers/index.ts";
import { finalCommand, instructions, parseDockerfile } from "./lib/dockerfile-model.ts";
import { readToml } from "./lib/fly-rules.ts";
import { productionDependencies, stageCopy } from "./lib/image-check.ts";
import { stageFilesystems } from "./lib/image-rules.ts";

const DOCKERFILE = join(ROOT, "Dockerfile.integrated");
const GIT_SHA = "0123456789abcdef0123456789abcdef01234567";
const BUILD_TIME = "2026-11-23T03:04:05Z";
const app = tempDir("pipbot-image-boot-app-");
const data = tempDir("pipbot-image-boot-data-");
let proc: RunningProcess | undefined;

afterAll(async () => {
  proc?.kill("SIGKILL");
  await proc?.exited;
  app.cleanup();
  data.cleanup();
});

async function ok(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).status === 200;
  } catch {
    return false;
  }
}

describe("the integrated image's contents boot with fly-integrated.toml's [env]", () => {
  test("CMD starts the supervisor; all three are healthy; identity baked in; SIGTERM → exit 0", async () => {
    const model = parseDockerfile(DOCKERFILE);
    const fs = stageFilesystems(model, ROOT).at(-1)!;
    stageCopy(fs, "/app", app.path, productionDependencies());
    // What the image build's RUN writes (the same printf format).
    const bake = instructions(model.final, "RUN").find((r) => r.raw.includes("build-info.json"));
    expect(bake?.raw).toContain(`printf '{"gitSha":"%s","buildTime":"%s"}\\n'`);
    writeFileSync(join(app.path, "build-info.json"), `{"gitSha":"${GIT_SHA}","buildTime":"${BUILD_TIME}"}\n`);

    const { cmd } = finalCommand(model);
    expect(cmd.slice(0, 2)).toEqual(["bun", "src/cli.ts"]);
    const ports = {
      GATEWAY_PORT: await freePort(),
      AI_PORT: await freePort(),
      SYNC_STATUS_PORT: await freePort(),
    };
    const env: Record<string, string> = {
      ...readToml(join(ROOT, "fly-integrated.toml")).env,
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: data.path,
      DATA_DIR: join(data.path, "data"),
      GATEWAY_PORT: String(ports.GATEWAY_PORT),
      AI_PORT: String(ports.AI_PORT),
      AI_URL: `http://127.0.0.1:${ports.AI_PORT}`,
      SYNC_STATUS_PORT: String(ports.SYNC_STATUS_PORT),
      CLAWDBOT_GATEWAY_TOKEN: "image-boot-gateway-token",
      FLY_IMAGE_REF: "registry.fly.io/pipbot-prod:deploy-20261123030405-0123456",
    };
    proc = spawnCaptured([process.execPath, ...cmd.slice(1)], env, { cwd: app.path });

    const urls = [
      `http://127.0.0.1:${ports.AI_PORT}/healthz`,
      `http://127.0.0.1:${ports.SYNC_STATUS_PORT}/healthz`,
      `http://127.0.0.1:${ports.GATEWAY_PORT}/healthz`,
    ];
    await waitFor(async () => (await Promise.all(urls.map(ok))).every(Boolean), {
      timeoutMs: 30_000,
      what: "the AI server, sync worker and gateway /healthz",
    });
    const identity = proc.records().find((r) => r.event === "identity" && r.proc === "supervisor");
    expect(identity).toMatchObject({
      gitSha: GIT_SHA,
      buildTime: BUILD_TIME,
      flyImageRef: env.FLY_IMAGE_REF,
      mode: "integrated",
      processes: ["ai", "sync", "gateway"],
    });

    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    // Within SUPERVISOR_SHUTDOWN_BUDGET_MS, by what the supervisor did rather than a wall-clock
    // bound a loaded machine can exceed: every child stopped on SIGTERM, nothing was forced.
    const stop = proc.records().filter((r) => ["grace_expired", "shutdown_forced"].includes(String(r.event)));
    expect(stop).toEqual([]);
    expect(proc.records().find((r) => r.event === "shutdown_complete")).toMatchObject({ exitCode: 0 });
  }, 60_000);
});
