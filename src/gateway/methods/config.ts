/**
 * `config.get`: the gateway's effective configuration (its environment after defaults), with every
 * secret redacted by key and by value, read-only — a pipbot VM's configuration is set by the
 * platform that deploys it, so `config.set` / `config.apply` / `config.patch` answer the one
 * CONFIG_MANAGED_BY_PLATFORM refusal and change nothing.
 *
 * The answer has the fields the Control UI reads from a config snapshot (`path`, `exists`, `raw`,
 * `config`, `hash`, `valid`, `issues`), plus `readOnly: true` and `managedBy`.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { type MethodHandler, parseParams } from "./types.ts";

export const configGet: MethodHandler = (ctx, raw) => {
  parseParams("config.get", z.looseObject({}), raw);
  const { settings, redactor } = ctx.panels;
  const config = redactor.value(
    Object.fromEntries(Object.entries(settings).sort(([a], [b]) => a.localeCompare(b))),
  ) as Record<string, unknown>;
  const text = `${JSON.stringify(config, null, 2)}\n`;
  return {
    path: "environment (managed by the platform)",
    exists: true,
    raw: text,
    config,
    hash: createHash("sha256").update(text).digest("hex"),
    valid: true,
    issues: [],
    warnings: [],
    legacyIssues: [],
    readOnly: true,
    managedBy: "platform",
  };
};

/** Configuration writes: refused with CONFIG_MANAGED_BY_PLATFORM (not in the table, so not advertised). */
export const CONFIG_WRITES = ["config.set", "config.apply", "config.patch"] as const;
