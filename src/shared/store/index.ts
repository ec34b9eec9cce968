export * from "./store.ts";
export * from "./types.ts";
