/**
 * What an operator sees from `pipbot start`, against REAL child processes: secrets never in the
 * captured output, the identity line's values, human output on a terminal (a real pty via
 * `script`), and bad configuration as one message naming every bad variable.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type EnvVars, processEnvs } from "../../src/shared/config/index.ts";
import { CLI, childEnv, ROOT, spawnPipbot, tempDir, waitFor } from "../helpers/index.ts";
import { FIXTURES, serverCmd, supervisorRuns, waitForEvent } from "./helpers.ts";

const run = supervisorRuns();

/** Every variable (and alias) that some process's schema marks secret. */
const SECRET_VARS = [
  ...new Set(
    Object.values(processEnvs).flatMap((def) =>
      Object.entries(def.vars as EnvVars).flatMap(([name, v]) =>
        v.meta.secret ? [name, ...(v.meta.aliases ?? [])] : [],
      ),
    ),
  ),
];

describe("pipbot start: secrets", () => {
  test("no secret reaches the supervisor's output, whatever shape a child prints it in", async () => {
    const secrets = Object.fromEntries(
      SECRET_VARS.map((n) => [n, `s3cr3t-${n}-${randomBytes(12).toString("hex")}`]),
    );
    // Built at run time so that no key-shaped literal sits in the repository.
    const unregistered = ["sk", "ant", "api03", randomBytes(16).toString("hex")].join("-");
    const { p } = await run(
      () => [
        `leak: bun ${join(FIXTURES, "leak.ts")} --names ${SECRET_VARS.join(",")} --unregistered ${unregistered}`,
      ],
      secrets,
    );
    // It exits 4 before it is ready: a startup failure that quotes its last lines.
    expect(await p.exited).toBe(4);
    const out = p.output();
    expect(out).toContain("leak: done");
    expect(p.records().find((r) => r.event === "supervisor_failure")?.child).toBe("leak");
    expect(SECRET_VARS.length).toBeGreaterThanOrEqual(6);
    for (const v of Object.values(secrets)) {
      expect(out).not.toContain(v);
      expect(out).not.toContain(Buffer.from(v).toString("base64"));
    }
    expect(out).not.toContain(unregistered);
    expect(out).not.toContain("plain-unregistered-value");
    expect(out).toContain("[REDACTED]");
    // Tagging still produced valid JSON for every line.
    for (const l of out.split("\n").filter(Boolean)) expect(() => JSON.parse(l)).not.toThrow();
  }, 60_000);
});

describe("pipbot start: identity line", () => {
  test("one line with version, git SHA, build time, Fly image/machine/region, mode, processes, Bun", async () => {
    const { p } = await run(({ events }) => [`ai: ${serverCmd("ai", events)}`], {
      PIPBOT_GIT_SHA: "0123456789abcdef0123456789abcdef01234567",
      PIPBOT_BUILD_TIME: "2026-11-30T12:00:00Z",
      FLY_IMAGE_REF: "registry.fly.io/pipbot:deployment-01ABC",
      FLY_MACHINE_ID: "e784079b449483",
      FLY_REGION: "fra",
      FLY_APP_NAME: "pipbot-user-1",
      PIPBOT_MODE: "separate",
    });
    await waitForEvent(p, "all_ready");
    const ids = p.records().filter((r) => r.event === "identity");
    expect(ids).toHaveLength(1);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(ids[0]).toMatchObject({
      proc: "supervisor",
      version: pkg.version,
      gitSha: "0123456789abcdef0123456789abcdef01234567",
      buildTime: "2026-11-30T12:00:00Z",
      flyImageRef: "registry.fly.io/pipbot:deployment-01ABC",
      flyMachineId: "e784079b449483",
      flyRegion: "fra",
      flyAppName: "pipbot-user-1",
      mode: "separate",
      processes: ["ai"],
      bun: Bun.version,
    });
    // It is the first line the supervisor writes.
    expect(p.records()[0]?.event).toBe("identity");
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  }, 60_000);
});

/** Run `cmd` (a shell command line) with a real pseudo-terminal as its stdin and stdout. */
function underPty(cmd: string, env: Record<string, string>) {
  const p = Bun.spawn(["script", "-qefc", cmd, "/dev/null"], {
    cwd: ROOT,
    env,
    stdin: "pipe",
    stdout: "pipe",
  });
  const o = { text: "", proc: p, pumped: Promise.resolve() };
  o.pumped = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of p.stdout) o.text += dec.decode(chunk, { stream: true });
  })();
  return o;
}

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

describe("on a terminal", () => {
  test("pipbot start, stdout a TTY: every line as `name | level msg`, no JSON; Ctrl-C stops it, exit 0", async () => {
    const t = tempDir("pipbot-tty-");
    try {
      const procfile = join(t.path, "Procfile");
      writeFileSync(procfile, `out: bun ${join(FIXTURES, "output.ts")}\n`);
      // Its own DATA_DIR: the default (./data in the checkout) would write the supervisor's lock and
      // status file into the repository and collide with a second suite run from the same checkout.
      const env = childEnv({ SUPERVISOR_READY_UPTIME_MS: "200", DATA_DIR: t.path });
      delete env.PIPBOT_SUPERVISED;
      const pty = underPty(`exec bun ${CLI} start --procfile ${procfile}`, env);
      try {
        await waitFor(() => pty.text.includes("all processes ready"), {
          timeoutMs: 20_000,
          what: "all ready",
        });
        await waitFor(() => pty.text.includes("after long line"), { what: "the child's output" });
        pty.proc.stdin.write("\x03"); // Ctrl-C on the terminal: SIGINT to the supervisor
        pty.proc.stdin.flush();
        expect(await pty.proc.exited).toBe(0);
        await pty.pumped;
      } finally {
        pty.proc.kill("SIGKILL");
      }
      // Each line: `HH:MM:SS.mmm name | …`; the time is checked, then cut for the comparisons.
      const raw = stripAnsi(pty.text)
        .split(/\r?\n/)
        .map((l) => l.replace(/^\^C/, ""))
        .filter((l) => l.trim() && l !== "^C");
      for (const l of raw) expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{3} /);
      const lines = raw.map((l) => l.slice(13));
      expect(lines.some((l) => l.startsWith("supervisor | info pipbot supervisor starting"))).toBe(true);
      expect(lines.some((l) => l.startsWith("out        | info json without proc"))).toBe(true);
      expect(lines.some((l) => l.startsWith("out        | plain stderr line"))).toBe(true);
      expect(lines.some((l) => l.startsWith("supervisor | info stopped"))).toBe(true);
      for (const l of lines) expect(l.replace(/^\^C/, "")).toMatch(/^(supervisor|out {7}) \| /);
      expect(pty.text).toContain("\x1b["); // coloured
    } finally {
      t.cleanup();
    }
  }, 60_000);

  test("a process's own logger on a TTY is pretty (pino-pretty) and still redacts", async () => {
    const env = childEnv();
    delete env.PIPBOT_SUPERVISED;
    const script = [
      `const { createLogger } = await import(${JSON.stringify(join(ROOT, "src", "shared", "log.ts"))});`,
      'const log = createLogger({ proc: "demo-proc", secrets: ["pty-secret-value-1"] });',
      'log.info({ token: "field-secret-2", n: 7 }, "hello pty-secret-value-1");',
    ].join(" ");
    const pty = underPty(`exec bun -e '${script}'`, env);
    expect(await pty.proc.exited).toBe(0);
    await pty.pumped;
    const text = stripAnsi(pty.text);
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: hello \[REDACTED\]/m);
    expect(text).toContain('proc: "demo-proc"');
    expect(text).toContain("n: 7");
    expect(text).not.toContain("pty-secret-value-1");
    expect(text).not.toContain("field-secret-2");
    expect(text.trimStart().startsWith("{")).toBe(false);
  }, 60_000);
});

describe("bad configuration at startup", () => {
  // Three bad variables each process reads; one message naming all three, never a stack trace.
  const cases: [string, Record<string, string>][] = [
    ["start", { LOG_LEVEL: "loud", SUPERVISOR_GRACE_MS: "-5", AI_PORT: "99999" }],
    ["ai", { LOG_LEVEL: "loud", AI_PORT: "99999", AI_MAX_RETRIES: "many" }],
    ["sync", { LOG_LEVEL: "loud", SYNC_STATUS_PORT: "http", SYNC_BATCH_MAX_ENTRIES: "0" }],
    ["gateway", { LOG_LEVEL: "loud", GATEWAY_PORT: "99999", AI_URL: "not a url" }],
  ];
  for (const [cmd, bad] of cases) {
    test(`pipbot ${cmd}: exit 78, one message naming ${Object.keys(bad).join(", ")}`, async () => {
      const data = tempDir("pipbot-cfg-");
      try {
        const p = spawnPipbot([cmd], childEnv({ ...bad, DATA_DIR: data.path }));
        expect(await p.exited).toBe(78);
        const out = p.output();
        const head = `pipbot ${cmd === "start" ? "start" : cmd}: invalid configuration (3 problems):`;
        expect(out.split(head)).toHaveLength(2); // exactly one message
        for (const name of Object.keys(bad)) expect(out).toContain(`  - ${name}=`);
        expect(out).toContain("Fix: ");
        expect(out).not.toMatch(/^\s+at .*\(.*:\d+:\d+\)$/m); // no stack trace
        expect(out).not.toMatch(/error: |Error:/);
      } finally {
        data.cleanup();
      }
    }, 60_000);
  }
});
