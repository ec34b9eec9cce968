/**
 * A fake container registry speaking the Docker registry HTTP API v2 as registry.fly.io does: a
 * manifest HEAD/GET without a token answers 401 with a `WWW-Authenticate: Bearer realm=…` challenge;
 * the realm hands out a token for Basic credentials (`x:<FLY_API_TOKEN>`); with it, a known tag
 * answers 200 + `Docker-Content-Digest`, an unknown one 404 `MANIFEST_UNKNOWN` in the registry's
 * error shape.
 */
export interface FakeRegistry {
  url: string;
  /** The host:port to put in image refs (plain HTTP on loopback, like any local registry). */
  host: string;
  /** repository → tag → digest */
  tags: Map<string, Map<string, string>>;
  push(repository: string, tag: string): string;
  manifestRequests: number;
  stop(): Promise<void>;
}

export async function startFakeRegistry(opts: {
  password: string;
  username?: string;
}): Promise<FakeRegistry> {
  const issued = new Set<string>();
  const expectedBasic = `Basic ${btoa(`${opts.username ?? "x"}:${opts.password}`)}`;
  const r: FakeRegistry = {
    url: "",
    host: "",
    tags: new Map(),
    manifestRequests: 0,
    push(repository, tag) {
      const digest = `sha256:${Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("")}`;
      if (!r.tags.has(repository)) r.tags.set(repository, new Map());
      r.tags.get(repository)!.set(tag, digest);
      return digest;
    },
    stop: async () => server.stop(true),
  };
  const errors = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
    Response.json({ errors: [{ code, message, detail: null }] }, { status, headers });
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/token") {
        if (req.headers.get("authorization") !== expectedBasic)
          return errors(401, "UNAUTHORIZED", "authentication required");
        const token = crypto.randomUUID();
        issued.add(token);
        return Response.json({ token, access_token: token, expires_in: 300 });
      }
      const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
      if (!m) return errors(404, "NAME_UNKNOWN", "repository name not known to registry");
      r.manifestRequests++;
      const bearer = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1];
      if (!bearer || !issued.has(bearer))
        return errors(401, "UNAUTHORIZED", "authentication required", {
          "www-authenticate": `Bearer realm="${r.url}/token",service="fake-registry",scope="repository:${m[1]}:pull"`,
        });
      const tags = r.tags.get(m[1]!);
      const digest = m[2]!.startsWith("sha256:")
        ? [...(tags?.values() ?? [])].find((d) => d === m[2])
        : tags?.get(m[2]!);
      if (!digest) return errors(404, "MANIFEST_UNKNOWN", `manifest unknown: ${m[1]}:${m[2]}`);
      const headers = {
        "docker-content-digest": digest,
        "content-type": "application/vnd.oci.image.index.v1+json",
        "content-length": "2",
      };
      return new Response(req.method === "HEAD" ? null : "{}", { status: 200, headers });
    },
  });
  r.url = `http://127.0.0.1:${server.port}`;
  r.host = `127.0.0.1:${server.port}`;
  return r;
}
