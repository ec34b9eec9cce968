/* eslint-disable */
/**
 * Generated `api` utility.
 *
 * THIS CODE IS AUTOMATICALLY GENERATED.
 *
 * To regenerate, run `npx convex dev`.
 * @module
 */

import type {
  ApiFromModules,
  FilterApi,
  FunctionReference,
} from "convex/server";
import type * as admin from "../admin.js";
import type * as attachments from "../attachments.js";
import type * as budgets from "../budgets.js";
import type * as conversations from "../conversations.js";
import type * as credentials from "../credentials.js";
import type * as crons from "../crons.js";
import type * as http from "../http.js";
import type * as lib_crypto from "../lib/crypto.js";
import type * as lib_flyApi from "../lib/flyApi.js";
import type * as lib_log from "../lib/log.js";
import type * as lib_machineConfig from "../lib/machineConfig.js";
import type * as lib_periods from "../lib/periods.js";
import type * as lib_pricing from "../lib/pricing.js";
import type * as lib_providerWire from "../lib/providerWire.js";
import type * as lib_registry from "../lib/registry.js";
import type * as lib_syncWire from "../lib/syncWire.js";
import type * as lib_usageMeter from "../lib/usageMeter.js";
import type * as machineHealth from "../machineHealth.js";
import type * as provisioning from "../provisioning.js";
import type * as proxy from "../proxy.js";
import type * as rollout from "../rollout.js";
import type * as rolloutControl from "../rolloutControl.js";
import type * as rolloutTick from "../rolloutTick.js";
import type * as syncIngest from "../syncIngest.js";
import type * as syncPush from "../syncPush.js";
import type * as usage from "../usage.js";

/**
 * A utility for referencing Convex functions in your app's API.
 *
 * Usage:
 * ```js
 * const myFunctionReference = api.myModule.myFunction;
 * ```
 */
declare const fullApi: ApiFromModules<{
  admin: typeof admin;
  attachments: typeof attachments;
  budgets: typeof budgets;
  conversations: typeof conversations;
  credentials: typeof credentials;
  crons: typeof crons;
  http: typeof http;
  "lib/crypto": typeof lib_crypto;
  "lib/flyApi": typeof lib_flyApi;
  "lib/log": typeof lib_log;
  "lib/machineConfig": typeof lib_machineConfig;
  "lib/periods": typeof lib_periods;
  "lib/pricing": typeof lib_pricing;
  "lib/providerWire": typeof lib_providerWire;
  "lib/registry": typeof lib_registry;
  "lib/syncWire": typeof lib_syncWire;
  "lib/usageMeter": typeof lib_usageMeter;
  machineHealth: typeof machineHealth;
  provisioning: typeof provisioning;
  proxy: typeof proxy;
  rollout: typeof rollout;
  rolloutControl: typeof rolloutControl;
  rolloutTick: typeof rolloutTick;
  syncIngest: typeof syncIngest;
  syncPush: typeof syncPush;
  usage: typeof usage;
}>;
export declare const api: FilterApi<
  typeof fullApi,
  FunctionReference<any, "public">
>;
export declare const internal: FilterApi<
  typeof fullApi,
  FunctionReference<any, "internal">
>;
