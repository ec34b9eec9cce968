/**
 * The interactive `pipbot chat`'s slash commands, over the gateway's protocol-4 methods:
 *   /sessions            the sessions (sessions.list), the current one marked
 *   /sessions N | KEY    switch to one (its last messages are shown)
 *   /new                 a new, empty session (sessions.create when offered, else a fresh key)
 *   /model               the model of this session, SIMULATOR when the AI server is the simulator,
 *                        and the models to choose from (models.list when offered)
 *   /model ID            use that model in this session (sessions.patch {model})
 *   /help                this list
 * A method the gateway does not offer (hello-ok.features.methods) is said so, never guessed at.
 */
import type { Requester } from "./turn.ts";

export const COMMANDS_HELP = `commands:
  /sessions            list the sessions (the current one marked *)
  /sessions N|KEY      switch to session N of the list, or to KEY
  /new                 start a new, empty session
  /model               show this session's model (and the models to choose from)
  /model ID            use model ID in this session
  /exit                quit`;

export interface SessionRow {
  key: string;
  label?: string;
  displayName?: string;
  derivedTitle?: string;
  model?: string;
  modelProvider?: string;
  updatedAt?: number;
}

export interface CommandContext {
  link: Requester;
  /** hello-ok.features.methods of the current connection. */
  offers(method: string): boolean;
  sessionKey: string;
  setSession(key: string): Promise<void>;
  say(text: string): void;
}

/** `agent:main:x` and `x` are one session: compare keys in their short form. */
export function shortKey(key: string): string {
  return key.startsWith("agent:main:") ? key.slice("agent:main:".length) : key;
}

export function sameSession(a: string, b: string): boolean {
  return shortKey(a) === shortKey(b);
}

function qualified(model: string | undefined, provider: string | undefined): string | undefined {
  if (!model) return undefined;
  return provider && !model.startsWith(`${provider}/`) ? `${provider}/${model}` : model;
}

/**
 * What runs this session's replies: the session's model (sessions.list row), else the gateway's
 * configured model (status), else the AI server's default (health); and whether that AI server
 * is the simulator. Nothing throws: a failed look-up just leaves that part out.
 */
export async function describeModel(
  link: Requester,
  sessionKey: string,
  offers: (m: string) => boolean,
): Promise<{ model?: string; simulator: boolean }> {
  let model: string | undefined;
  let simulator = false;
  if (offers("sessions.list")) {
    const l = await link
      .request<{ sessions?: SessionRow[]; defaults?: { model?: string; modelProvider?: string } }>(
        "sessions.list",
        {},
      )
      .catch(() => undefined);
    const row = l?.sessions?.find((s) => sameSession(s.key, sessionKey));
    model =
      qualified(row?.model, row?.modelProvider) ?? qualified(l?.defaults?.model, l?.defaults?.modelProvider);
  }
  if (offers("status") && !model) {
    const st = await link.request<{ model?: string | null }>("status", {}).catch(() => undefined);
    model = st?.model ?? undefined;
  }
  if (offers("health")) {
    const h = await link
      .request<{ ai?: { simulator?: boolean; defaultModel?: string } }>("health", {})
      .catch(() => undefined);
    simulator = h?.ai?.simulator === true;
    model ??= h?.ai?.defaultModel;
  }
  return { ...(model ? { model } : {}), simulator };
}

export function modelLine(d: { model?: string; simulator: boolean }): string {
  const name = d.model ?? "the AI server's default";
  return `model: ${name}${d.simulator ? " — SIMULATOR (no real model: canned replies)" : ""}`;
}

/** Run one slash command line; false when the line is not a known command. */
export async function runCommand(ctx: CommandContext, line: string): Promise<boolean> {
  const [cmd, ...rest] = line.split(/\s+/);
  const arg = rest.join(" ").trim();
  switch (cmd) {
    case "/help":
      ctx.say(COMMANDS_HELP);
      return true;
    case "/sessions":
      await sessions(ctx, arg);
      return true;
    case "/new":
      await newSession(ctx);
      return true;
    case "/model":
      await model(ctx, arg);
      return true;
    default:
      return false;
  }
}

async function listSessions(ctx: CommandContext): Promise<SessionRow[]> {
  const l = await ctx.link.request<{ sessions?: SessionRow[] }>("sessions.list", {});
  const rows = l.sessions ?? [];
  // The current session is listed even before its first message is stored.
  if (!rows.some((s) => sameSession(s.key, ctx.sessionKey))) rows.unshift({ key: ctx.sessionKey });
  return rows;
}

async function sessions(ctx: CommandContext, arg: string): Promise<void> {
  if (!ctx.offers("sessions.list")) {
    ctx.say("this gateway does not list sessions (no sessions.list); switch with /sessions KEY");
    if (arg) await ctx.setSession(arg);
    return;
  }
  const rows = await listSessions(ctx);
  if (arg === "") {
    rows.forEach((s, i) => {
      const mark = sameSession(s.key, ctx.sessionKey) ? "*" : " ";
      const title = s.label ?? s.displayName ?? s.derivedTitle;
      ctx.say(`${mark} ${i + 1}. ${shortKey(s.key)}${title ? ` — ${title}` : ""}`);
    });
    ctx.say("switch with /sessions N or /sessions KEY; /new starts a new one");
    return;
  }
  const n = /^\d+$/.test(arg) ? Number(arg) : Number.NaN;
  const target = Number.isInteger(n) ? rows[n - 1]?.key : arg;
  if (!target) {
    ctx.say(`no session ${arg}: /sessions lists ${rows.length}`);
    return;
  }
  await ctx.setSession(shortKey(target));
}

async function newSession(ctx: CommandContext): Promise<void> {
  let key: string | undefined;
  if (ctx.offers("sessions.create")) {
    const r = await ctx.link.request<{ key?: string }>("sessions.create", {});
    key = r.key;
  }
  // Without sessions.create a fresh key is a new session: the gateway creates it on the first message.
  await ctx.setSession(shortKey(key ?? `chat-${crypto.randomUUID().slice(0, 8)}`));
}

async function model(ctx: CommandContext, arg: string): Promise<void> {
  if (arg === "") {
    ctx.say(modelLine(await describeModel(ctx.link, ctx.sessionKey, ctx.offers)));
    if (ctx.offers("models.list")) {
      const l = await ctx.link
        .request<{ models?: { id: string; provider?: string; tags?: string[] }[] }>("models.list", {})
        .catch((e: Error) => {
          ctx.say(`(models unavailable: ${e.message})`);
          return undefined;
        });
      const ids = (l?.models ?? []).map(
        (m) => `${qualified(m.id, m.provider)}${m.tags?.includes("default") ? " (default)" : ""}`,
      );
      if (ids.length > 0) ctx.say(`available: ${ids.join(", ")}\nchange with /model ID`);
    }
    return;
  }
  if (!ctx.offers("sessions.patch")) {
    ctx.say("this gateway does not let a session choose its model (no sessions.patch)");
    return;
  }
  await ctx.link.request("sessions.patch", { key: ctx.sessionKey, model: arg });
  ctx.say(`model of session ${shortKey(ctx.sessionKey)}: ${arg}`);
}
