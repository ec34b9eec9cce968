/**
 * Procfile parsing and start order. The Procfile is the single list of processes (foreman and
 * overmind run the same file): `name: command` lines, `#` comments, blank lines.
 * Known processes start in dependency order (ai → sync → gateway); any others follow in file order.
 * Shared because the supervisor runs it and `pipbot check` validates it.
 */

export interface ProcEntry {
  name: string;
  command: string;
  /** 1-based line in the Procfile (for messages). */
  line: number;
}

export class ProcfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProcfileError";
  }
}

/** The runtime's processes, in the order the supervisor starts them (and stops them in reverse). */
export const PROC_NAMES = ["ai", "sync", "gateway"] as const;
export type ProcName = (typeof PROC_NAMES)[number];

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;

/** Parse Procfile text; every problem is collected into one ProcfileError. */
export function parseProcfile(text: string, source = "Procfile"): ProcEntry[] {
  const entries: ProcEntry[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const colon = line.indexOf(":");
    if (colon <= 0) {
      problems.push(`${source}:${i + 1}: expected "name: command", got ${JSON.stringify(line)}`);
      return;
    }
    const name = line.slice(0, colon).trim();
    const command = line.slice(colon + 1).trim();
    if (!NAME.test(name)) {
      problems.push(
        `${source}:${i + 1}: invalid process name ${JSON.stringify(name)} (letters, digits, _ and -)`,
      );
      return;
    }
    if (command === "") {
      problems.push(`${source}:${i + 1}: process "${name}" has no command`);
      return;
    }
    if (seen.has(name)) {
      problems.push(`${source}:${i + 1}: process "${name}" is defined twice`);
      return;
    }
    seen.add(name);
    entries.push({ name, command, line: i + 1 });
  });
  if (problems.length > 0) throw new ProcfileError(problems.join("\n"));
  if (entries.length === 0) throw new ProcfileError(`${source}: no processes defined`);
  return entries;
}

/** Known processes first in dependency order, then the others in file order. */
export function startOrder(entries: ProcEntry[]): ProcEntry[] {
  const known = PROC_NAMES.flatMap((n) => entries.filter((e) => e.name === n));
  const others = entries.filter((e) => !(PROC_NAMES as readonly string[]).includes(e.name));
  return [...known, ...others];
}

/**
 * Restrict to `only` (comma-separated names already split). Unknown names are an error listing
 * the names the Procfile defines.
 */
export function selectProcesses(entries: ProcEntry[], only: string[] | undefined): ProcEntry[] {
  if (!only || only.length === 0) return entries;
  const names = new Set(entries.map((e) => e.name));
  const unknown = only.filter((n) => !names.has(n));
  if (unknown.length > 0) {
    throw new ProcfileError(
      `unknown process${unknown.length > 1 ? "es" : ""} ${unknown.map((n) => `"${n}"`).join(", ")} (the Procfile defines ${[...names].join(", ")})`,
    );
  }
  const wanted = new Set(only);
  return entries.filter((e) => wanted.has(e.name));
}

/**
 * The argv for a command: `/bin/sh -c <line>`, the way foreman and overmind run Procfile lines
 * (variables, quotes, `&&`, redirections all work). A line starting with `exec` makes the shell
 * replace itself, so the supervisor's child pid is the process itself (our Procfile does).
 * Without a shell (`shell` null: an image that has none, e.g. the nix one), a plain list of words,
 * after a leading `exec`, runs directly; anything needing a shell is refused with the reason.
 */
export function commandArgv(command: string, shell: string | null = "/bin/sh"): string[] {
  if (shell) return [shell, "-c", command];
  const words = command.split(/\s+/).filter(Boolean);
  if (words[0] === "exec") words.shift();
  const plain = /^[A-Za-z0-9_\-./:@%+,=]+$/;
  if (words.length > 0 && words.every((w) => plain.test(w)) && !words[0]?.includes("=")) return words;
  throw new ProcfileError(
    `${JSON.stringify(command)} needs a shell, and this system has no /bin/sh: use a plain command (words only)`,
  );
}
