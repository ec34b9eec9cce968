/**
 * The Fly machine config of a user VM (integrated mode, as fly-integrated.toml describes it): the
 * image, the environment the deployment docs list (secrets included), the /data volume, the
 * gateway service with its /healthz check, `restart: on-failure` and `auto_destroy: false` so a
 * machine that fails to boot stays there to be inspected.
 */
export const GATEWAY_PORT = 18789;

export interface Tunables {
  waitTimeoutS: number;
  checksTimeoutMs: number;
  pollMs: number;
}

export function tunables(): Tunables {
  const n = (name: string, d: number) => {
    const v = Number(process.env[name]);
    return process.env[name] && Number.isFinite(v) && v >= 0 ? v : d;
  };
  return {
    waitTimeoutS: n("PIPBOT_FLY_WAIT_TIMEOUT_S", 60),
    checksTimeoutMs: n("PIPBOT_CHECKS_TIMEOUT_MS", 120_000),
    pollMs: n("PIPBOT_CHECKS_POLL_MS", 2_000),
  };
}

export function machineConfig(o: {
  image: string;
  env: Record<string, string>;
  volumeId: string;
  memoryMb?: number;
}): Record<string, unknown> {
  return {
    image: o.image,
    env: { DATA_DIR: "/data", GATEWAY_HOST: "0.0.0.0", GATEWAY_PORT: String(GATEWAY_PORT), ...o.env },
    guest: { cpu_kind: "shared", cpus: 1, memory_mb: o.memoryMb ?? 512 },
    mounts: [{ volume: o.volumeId, path: "/data" }],
    services: [
      {
        protocol: "tcp",
        internal_port: GATEWAY_PORT,
        autostop: "stop",
        autostart: true,
        ports: [
          { port: 443, handlers: ["tls", "http"] },
          { port: 80, handlers: ["http"], force_https: true },
        ],
      },
    ],
    checks: {
      gateway: {
        type: "http",
        port: GATEWAY_PORT,
        method: "get",
        path: "/healthz",
        interval: "30s",
        timeout: "5s",
        grace_period: "30s",
      },
    },
    restart: { policy: "on-failure", max_retries: 10 },
    auto_destroy: false,
    metadata: { pipbot: "user-vm" },
  };
}
