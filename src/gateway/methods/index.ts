/**
 * The owner panels and "everything else" of the method table, in one map that methods.ts spreads
 * into METHODS: what is here is offered (and advertised in `hello-ok.features.methods`); any other
 * method of the published protocol is refused as NOT_OFFERED (`refusalOf`).
 */

import type { PipbotError } from "../../shared/errors.ts";
import { CONFIG_WRITES, configGet } from "./config.ts";
import { EMPTY_METHODS } from "./empty.ts";
import { agentIdentity, commandsList } from "./identity.ts";
import { logsTail } from "./logs.ts";
import { OPENCLAW_METHODS } from "./openclaw-methods.ts";
import { health, lastHeartbeat, status, systemInfo } from "./status.ts";
import { configManaged, type MethodHandler, notOffered } from "./types.ts";
import { sessionsUsage, usageCost, usageStatus } from "./usage.ts";
import { usageLogs, usageTimeseries } from "./usage-detail.ts";

export const PANEL_METHODS: Record<string, MethodHandler> = {
  health,
  status,
  "last-heartbeat": lastHeartbeat,
  "system.info": systemInfo,
  "usage.status": usageStatus,
  "usage.cost": usageCost,
  "sessions.usage": sessionsUsage,
  "sessions.usage.timeseries": usageTimeseries,
  "sessions.usage.logs": usageLogs,
  "logs.tail": logsTail,
  "config.get": configGet,
  "agent.identity.get": agentIdentity,
  "commands.list": commandsList,
  ...EMPTY_METHODS,
};

/**
 * Why a method outside the table is refused: a configuration write → CONFIG_MANAGED_BY_PLATFORM,
 * another method of the published protocol → NOT_OFFERED, anything else → null (`unknown method`).
 */
export function refusalOf(method: string): PipbotError | null {
  if ((CONFIG_WRITES as readonly string[]).includes(method)) return configManaged(method);
  if (OPENCLAW_METHODS.has(method)) return notOffered(method);
  return null;
}

export type { MethodHandler, PanelDeps } from "./types.ts";
