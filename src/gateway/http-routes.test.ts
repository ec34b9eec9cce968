/** /healthz and /readyz: activity counts only for a caller on this machine (the socket's peer). */
import { afterAll, describe, expect, test } from "bun:test";
import { tempDir } from "../../test/helpers/index.ts";
import { isLoopbackHost } from "../shared/config/index.ts";
import { createLogger, memoryDestination } from "../shared/log.ts";
import { openStore } from "../shared/store/index.ts";
import { createAiClient } from "./ai-client.ts";
import { AiAvailability } from "./ai-wait.ts";
import { createHttpRoutes } from "./http-routes.ts";

const dir = tempDir();
const store = openStore(dir.path);
afterAll(() => {
  store.close();
  dir.cleanup();
});

/** Routes whose AI server cannot be reached (port 9: nothing listens), one connection, one run. */
function routes() {
  const ai = createAiClient({ baseUrl: "http://127.0.0.1:9" });
  const availability = new AiAvailability(ai, 1000);
  return createHttpRoutes({
    store,
    ai,
    aiAvailability: availability,
    logger: createLogger({ proc: "gateway", destination: memoryDestination() }),
    version: "1.2.3",
    isStopping: () => false,
    now: Date.now,
    connections: () => 1,
    activeRuns: () => 1,
  });
}

const get = async (path: string, local: boolean) => {
  const res = await routes().fetch(new Request(`http://gateway.test${path}`), { local });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe("gateway health answers", () => {
  test("a local caller (pipbot status) gets the activity counts", async () => {
    const { body } = await get("/healthz", true);
    expect(body).toMatchObject({ ok: true, connections: 1, activeRuns: 1, ai: { waitingRuns: 0 } });
  });

  test("a caller from elsewhere gets liveness and versions, never whether the user is chatting", async () => {
    const { status, body } = await get("/healthz", false);
    expect(status).toBe(200);
    expect(body).toMatchObject({ ok: true, version: "1.2.3", protocol: { min: 3, max: 4 } });
    expect(body).not.toHaveProperty("connections");
    expect(body).not.toHaveProperty("activeRuns");
    expect(body.ai).not.toHaveProperty("waitingRuns");
    const ready = await get("/readyz", false);
    expect(ready.status).toBe(503);
    expect(ready.body.ai).toEqual({ reachable: false, downForMs: expect.any(Number) });
    const localReady = await get("/readyz", true);
    expect(localReady.body.ai).toMatchObject({ waitingRuns: 0 });
  });
});

test("a loopback peer is recognised in every form Bun reports it", () => {
  for (const a of ["127.0.0.1", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"])
    expect(isLoopbackHost(a)).toBe(true);
  for (const a of ["10.0.0.1", "::ffff:10.0.0.1", "fdaa::1", "", "0.0.0.0"])
    expect(isLoopbackHost(a)).toBe(false);
});
