/**
 * Image refs and the Docker registry HTTP API v2 (which Fly's registry speaks): a ref must name an
 * immutable tag or a digest (never `:latest` — a stale pointer, the seeds' two lost days), and its
 * manifest must exist (HEAD /v2/<name>/manifests/<ref>, with the registry's Bearer token flow) before
 * it is stored or used. Returns the manifest digest.
 */

export interface ImageRef {
  host: string;
  name: string;
  tag?: string;
  digest?: string;
}

export class ImageRefError extends Error {}

const ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export function parseImageRef(ref: string): ImageRef {
  const m =
    /^([a-z0-9.-]+(?::\d+)?)\/([a-z0-9._/-]+?)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(
      ref,
    );
  if (!m?.[1] || !m[2])
    throw new ImageRefError(`"${ref}" is not an image ref like registry.fly.io/<app>:<tag>`);
  if (!m[3] && !m[4])
    throw new ImageRefError(`"${ref}" names no tag or digest: use an immutable deploy-… tag`);
  if (m[3] === "latest" && !m[4])
    throw new ImageRefError(
      `"${ref}" uses :latest, a pointer that goes stale: use the release's immutable tag`,
    );
  return { host: m[1], name: m[2], ...(m[3] ? { tag: m[3] } : {}), ...(m[4] ? { digest: m[4] } : {}) };
}

function registryBase(host: string): string {
  if (host === "registry.fly.io" && process.env.FLY_REGISTRY_URL)
    return process.env.FLY_REGISTRY_URL.replace(/\/+$/, "");
  return /^(localhost|127\.0\.0\.1)(:\d+)?$/.test(host) ? `http://${host}` : `https://${host}`;
}

function basicAuth(): string | null {
  const password = process.env.REGISTRY_PASSWORD || process.env.FLY_API_TOKEN;
  if (!password) return null;
  return `Basic ${btoa(`${process.env.REGISTRY_USERNAME || "x"}:${password}`)}`;
}

/** Fetches a Bearer token from the challenge's realm (the registry token flow). */
async function bearerFor(challenge: string, name: string): Promise<string | null> {
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  if (!params.realm) return null;
  const url = new URL(params.realm);
  if (params.service) url.searchParams.set("service", params.service);
  url.searchParams.set("scope", params.scope ?? `repository:${name}:pull`);
  const auth = basicAuth();
  const res = await fetch(url, { headers: auth ? { authorization: auth } : {} });
  if (!res.ok) return null;
  const body = (await res.json()) as { token?: string; access_token?: string };
  return body.token ?? body.access_token ?? null;
}

/** The manifest digest of `ref`, or an error that says what is wrong with it. */
export async function resolveImage(ref: string): Promise<{ ref: string; digest: string }> {
  const img = parseImageRef(ref);
  const url = `${registryBase(img.host)}/v2/${img.name}/manifests/${img.digest ?? img.tag}`;
  const head = (authorization: string | null) =>
    fetch(url, { method: "HEAD", headers: { accept: ACCEPT, ...(authorization ? { authorization } : {}) } });
  let res = await head(basicAuth());
  const challenge = res.headers.get("www-authenticate") ?? "";
  if (res.status === 401 && /^bearer/i.test(challenge)) {
    const token = await bearerFor(challenge, img.name);
    if (token) res = await head(`Bearer ${token}`);
  }
  if (res.status === 404)
    throw new ImageRefError(`${ref}: the registry has no such manifest (was it pushed?)`);
  if (res.status === 401 || res.status === 403)
    throw new ImageRefError(
      `${ref}: the registry refused our credentials (set FLY_API_TOKEN or REGISTRY_PASSWORD)`,
    );
  if (!res.ok) throw new ImageRefError(`${ref}: the registry answered HTTP ${res.status}`);
  const digest = res.headers.get("docker-content-digest");
  if (!digest) throw new ImageRefError(`${ref}: the registry sent no Docker-Content-Digest`);
  if (img.digest && digest !== img.digest)
    throw new ImageRefError(`${ref}: the registry's digest is ${digest}`);
  return { ref, digest };
}
