/** The idempotency window of chat runs (ChatRuns with an injected clock). */
import { describe, expect, test } from "bun:test";
import { tempDir, waitFor } from "../../test/helpers/index.ts";
import type { StreamEvent } from "../shared/chat-stream.ts";
import { PipbotError } from "../shared/errors.ts";
import { createLogger, memoryDestination } from "../shared/log.ts";
import { openStore } from "../shared/store/index.ts";
import type { AiClient } from "./ai-client.ts";
import { AiAvailability } from "./ai-wait.ts";
import { type ChatEventPayload, ChatRuns } from "./chat.ts";

describe("idempotency window (ChatRuns with an injected clock)", () => {
  test("same key: in_flight while running, the cached result after, still no second run after 5+ minutes", async () => {
    const dir = tempDir("pipbot-gw-idem-");
    const store = openStore(dir.path);
    let now = 1_000_000;
    let streams = 0;
    const gate = Promise.withResolvers<void>();
    const ai: AiClient = {
      async *stream() {
        streams++;
        yield { type: "start", data: { id: "x", provider: "anthropic", model: "m" } } as StreamEvent;
        await gate.promise;
        yield { type: "delta", data: { text: "hi" } } as StreamEvent;
        yield {
          type: "done",
          data: {
            message: { role: "assistant", content: [{ type: "text", text: "hi" }] },
            stopReason: "end_turn",
            usage: {
              inputTokens: 1,
              outputTokens: 1,
              cacheReadTokens: 0,
              cacheWriteTokens: 0,
              reasoningTokens: 0,
            },
          },
        } as StreamEvent;
      },
      health: async () => ({ ok: true, body: {} }),
    };
    const events: ChatEventPayload[] = [];
    const runs = new ChatRuns({
      store,
      ai,
      logger: createLogger({ proc: "gateway", destination: memoryDestination(), pretty: false }),
      emit: (p) => void events.push(p),
      deltaWindowMs: 10,
      contextBudgetChars: 1000,
      runTimeoutMs: 60_000,
      now: () => now,
    });
    try {
      const input = { sessionKey: "main", message: "hello", idempotencyKey: "k1" };
      expect(runs.send(input)).toEqual({ runId: "k1", status: "started" });
      now += 60_000;
      expect(runs.send(input)).toEqual({ runId: "k1", status: "in_flight" });
      gate.resolve();
      await waitFor(() => events.find((e) => e.state === "final"), { what: "final" });
      now += 4 * 60_000;
      expect(runs.send(input)).toEqual({ runId: "k1", status: "ok" });
      // Past the in-memory window the store still knows the key (the run id): no second run.
      now += 6 * 60_000;
      expect(runs.send(input)).toEqual({ runId: "k1", status: "ok" });
      expect(streams).toBe(1);
      expect(store.listMessages(store.findSession("main")?.id as string)).toHaveLength(2);
    } finally {
      await runs.shutdown();
      store.close();
      dir.cleanup();
    }
  });
});

describe("waiting for the AI server (ChatRuns over a fake AI client)", () => {
  test("a run whose timeout passes while it waits for the AI server ends as a timeout, not as 'unreachable'", async () => {
    const dir = tempDir("pipbot-gw-wait-");
    const store = openStore(dir.path);
    const ai: AiClient = {
      // biome-ignore lint/correctness/useYield: it fails before its first event, like a refused connection
      async *stream() {
        throw new PipbotError("upstream_connection", "the AI server is not reachable", {
          retryable: true,
          details: { aiServer: "unreachable" },
        });
      },
      health: async () => ({ ok: false, error: "not reachable" }),
    };
    const events: ChatEventPayload[] = [];
    const runs = new ChatRuns({
      store,
      ai,
      logger: createLogger({ proc: "gateway", destination: memoryDestination(), pretty: false }),
      emit: (p) => void events.push(p),
      deltaWindowMs: 10,
      contextBudgetChars: 1000,
      runTimeoutMs: 50,
      // Waits far longer than the run may take: the run's timeout ends it.
      aiAvailability: new AiAvailability(ai, 60_000),
    });
    try {
      runs.send({ sessionKey: "main", message: "hello", idempotencyKey: "w1" });
      const end = await waitFor(() => events.find((e) => e.state === "error"), { what: "the run's end" });
      expect(end).toMatchObject({ errorKind: "timeout", errorMessage: "the run took longer than 50 ms" });
    } finally {
      await runs.shutdown();
      store.close();
      dir.cleanup();
    }
  });
});
