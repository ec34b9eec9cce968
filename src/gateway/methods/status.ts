/**
 * The owner's health panels: `health`, `status`, `last-heartbeat`, `system.info`. Everything is
 * what this VM really has: the gateway process itself, the AI server's `/healthz` and the sync
 * worker's `/status` (asked concurrently with short timeouts, like `pipbot status`), the store,
 * the image identity baked at build time, and the machine (os, disk of DATA_DIR).
 */
import { statfsSync } from "node:fs";
import os from "node:os";
import { z } from "zod";
import { aiHealthView } from "../ai-wait.ts";
import type { MethodContext } from "../methods.ts";
import { type MethodHandler, parseParams } from "./types.ts";

type Probe = { ok: true; body: unknown } | { ok: false; error: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function probeView(p: Probe): Record<string, unknown> {
  return p.ok ? { ok: true, ...(isObject(p.body) ? p.body : {}) } : { ok: false, error: p.error };
}

async function probes(ctx: MethodContext) {
  const [ai, sync] = await Promise.all([ctx.ai.health(1500), ctx.syncStatus()]);
  // The AI server's answer plus the chats waiting for it while it restarts (ai-wait.ts).
  return { ai: aiHealthView(ai, ctx.aiAvailability, ctx.now()), sync: probeView(sync) };
}

function gatewayProcess(ctx: MethodContext) {
  const mem = process.memoryUsage();
  return {
    ok: true,
    pid: process.pid,
    version: ctx.version,
    uptimeMs: ctx.now() - ctx.startedAt,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    connections: ctx.connections(),
    activeRuns: ctx.runs.activeCount,
  };
}

function image(ctx: MethodContext) {
  const id = ctx.panels.identity;
  return {
    version: id.version,
    gitSha: id.gitSha,
    buildTime: id.buildTime,
    mode: id.mode,
    bun: id.bun,
    flyImageRef: id.flyImageRef,
    flyMachineId: id.flyMachineId,
    flyRegion: id.flyRegion,
    flyAppName: id.flyAppName,
  };
}

const noParams = z.looseObject({});

export const health: MethodHandler = async (ctx, raw) => {
  parseParams("health", noParams, raw);
  const t0 = ctx.now();
  const { ai, sync } = await probes(ctx);
  return {
    ok: true,
    ts: ctx.now(),
    durationMs: ctx.now() - t0,
    store: { ok: ctx.store.ping() },
    ai,
    sync,
    connections: ctx.connections(),
    activeRuns: ctx.runs.activeCount,
  };
};

export const status: MethodHandler = async (ctx, raw) => {
  parseParams("status", noParams, raw);
  const { ai, sync } = await probes(ctx);
  return {
    ok: true,
    ts: ctx.now(),
    version: ctx.version,
    uptimeMs: ctx.now() - ctx.startedAt,
    connections: ctx.connections(),
    activeRuns: ctx.runs.activeCount,
    model: ctx.model ?? null,
    sessions: ctx.store.listSessions(1000).length,
    image: image(ctx),
    processes: { gateway: gatewayProcess(ctx), ai, sync },
  };
};

/** The gateway's own heartbeat: it answers, with when and how it is (the UI uses it as a ping). */
export const lastHeartbeat: MethodHandler = (ctx, raw) => {
  parseParams("last-heartbeat", noParams, raw);
  return { ts: ctx.now(), status: "ok", gateway: gatewayProcess(ctx) };
};

/** `SystemInfoResult` exactly (the schema allows no other keys). */
export const systemInfo: MethodHandler = (ctx, raw) => {
  parseParams("system.info", z.strictObject({}), raw);
  const id = ctx.panels.identity;
  const cpus = os.cpus();
  const load = os.loadavg();
  const info: Record<string, unknown> = {
    machineName: id.flyMachineId ?? os.hostname(),
    hostname: os.hostname(),
    platform: process.platform,
    release: os.release(),
    arch: process.arch,
    osLabel: `${os.type()} ${os.release()} (${process.arch})`,
    nodeVersion: `bun ${Bun.version} (node ${process.versions.node})`,
    pid: process.pid,
    uptimeMs: Math.round(process.uptime() * 1000),
    cpuCount: cpus.length,
    memoryTotalBytes: os.totalmem(),
    memoryFreeBytes: os.freemem(),
    loadAverage: [load[0] ?? 0, load[1] ?? 0, load[2] ?? 0],
    defaultAgentUtilityModel: ctx.model
      ? { status: "configured", model: ctx.model }
      : { status: "unavailable" },
  };
  if (cpus[0]?.model) info.cpuModel = cpus[0].model;
  const dataDir = ctx.panels.dataDir;
  if (dataDir) {
    try {
      const fs = statfsSync(dataDir);
      info.diskPath = dataDir;
      info.diskTotalBytes = fs.blocks * fs.bsize;
      info.diskAvailableBytes = fs.bavail * fs.bsize;
    } catch {
      // No disk figures when DATA_DIR cannot be stat'ed; the rest still answers.
    }
  }
  return info;
};
