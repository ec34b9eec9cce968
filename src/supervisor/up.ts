/**
 * `pipbot up` (what `./pipbot up` runs): `pipbot start` when a provider key, OPENAI_BASE_URL or the
 * Convex URL is configured, else `pipbot demo` against the bundled simulator. It decides from the
 * process's environment, which includes `.env` of the working directory: Bun loads `.env` (then
 * `.env.local`) for every `pipbot` command, and a variable already set in the environment wins.
 * That is the one way `.env` is handled everywhere (docs/OPERATIONS.md, "Configuration").
 */

/** The variables whose presence means "a real upstream is configured". */
export const UPSTREAM_VARS = [
  "ANTHROPIC_API_KEY",
  "ANTHROPIC_AUTH_TOKEN",
  "CLAUDE_ACCESS_TOKEN",
  "OPENAI_API_KEY",
  "GEMINI_API_KEY",
  "GOOGLE_API_KEY",
  "GOOGLE_APPLICATION_CREDENTIALS_JSON",
  "CONVEX_URL",
  "OPENAI_BASE_URL",
] as const;

export const UP_USAGE = `usage: pipbot up [options of pipbot start or pipbot demo]

Runs \`pipbot start\` when one of ${UPSTREAM_VARS.join(", ")} is set (in the environment or in
./.env, which Bun loads for every pipbot command; the environment wins), else \`pipbot demo\`
against the bundled upstream SIMULATOR. Prints which one and why.`;

export function upChoice(env: Record<string, string | undefined>): { mode: "start" | "demo"; why: string } {
  const set = UPSTREAM_VARS.filter((n) => env[n]?.trim());
  if (set.length > 0)
    return {
      mode: "start",
      why: `${set.join(", ")} ${set.length === 1 ? "is" : "are"} set: running pipbot start`,
    };
  return {
    mode: "demo",
    why: `none of ${UPSTREAM_VARS.join(", ")} is set (environment or .env): running the demo against the bundled upstream SIMULATOR`,
  };
}
