/**
 * Cross-process tests spawn real servers and child processes; give each test 60 s. bunfig.toml's
 * `[test] timeout` is not applied by Bun 1.4.5 (tests then get the default 5 s, which a loaded
 * machine exceeds), so the preload sets it.
 */
import { setDefaultTimeout } from "bun:test";

export const DEFAULT_TEST_TIMEOUT_MS = 60_000;
setDefaultTimeout(DEFAULT_TEST_TIMEOUT_MS);
