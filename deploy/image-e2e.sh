#!/usr/bin/env bash
# Build, boot and copy the REAL integrated image, offline (Debian packages + the npm registry only):
#   1. installs what it needs (buildah podman skopeo docker-registry mmdebstrap runc slirp4netns uidmap);
#   2. builds a stand-in for `oven/bun:<pinned>-debian` (mmdebstrap minbase bookworm with this
#      machine's apt sources + the real Bun binary from npm @oven/bun-linux-x64@<pinned>), tags it
#      with the exact name Dockerfile.integrated uses, and builds that Dockerfile UNCHANGED
#      (buildah bud --pull=never, GIT_SHA and BUILD_TIME build args);
#   3. boots it with podman on a root-owned volume (like a fresh Fly volume) and checks it;
#   4. runs the real `pipbot release` backup copy between two loopback docker-registry instances
#      (registry.fly.io → the first), compares digests and boots the image pulled from the backup.
# Exit 0 only when every check passed; a summary of all checks is printed either way.
# Nothing in /etc changes: podman/buildah/skopeo read this script's own config files.
# Usage: deploy/image-e2e.sh   (as root; docs/DEPLOY.md "The real image, end to end")
# Environment: PIPBOT_E2E_WORK (per-run state, removed at the end; default a new /var/tmp/pipbot-e2e.XXXXXX),
#   PIPBOT_E2E_CACHE (base rootfs + Bun binary, keyed by their inputs; default /var/cache/pipbot-image-e2e),
#   PIPBOT_E2E_KEEP=1 (keep WORK for inspection), PIPBOT_E2E_STORAGE_DRIVER (overlay|vfs, default overlay).
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
HERE="$ROOT/deploy/image-e2e"
WORK="${PIPBOT_E2E_WORK:-}"
CACHE="${PIPBOT_E2E_CACHE:-/var/cache/pipbot-image-e2e}"
START=$(date +%s)
# shellcheck source=deploy/image-e2e/lib.sh
. "$HERE/lib.sh"

[ -e /var/lib/containers ] && VARLIB_CONTAINERS_EXISTED=1 || VARLIB_CONTAINERS_EXISTED=0
trap cleanup EXIT
# An unexpected failure stops the run (set -e) and is named in the summary (once: not from subshells).
trap 'code=$?; [ "$BASH_SUBSHELL" = 0 ] && fail "script error" "line $LINENO: $BASH_COMMAND (exit $code)"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# Everything runs from main(), so bash has read the whole file before the first command: an
# edit of this file during a run cannot shift what runs next.
main() {
  [ "$(id -u)" = "0" ] || die "run as root (podman/buildah run rootful here; nothing outside a temp dir and $CACHE is written)"
  [ "$(uname -m)" = "x86_64" ] || die "x86_64 only (the stand-in base uses @oven/bun-linux-x64)"

  # ---------------------------------------------------------------- 1. tools
  phase "tools"
  need=()
  for pair in buildah:buildah podman:podman skopeo:skopeo docker-registry:docker-registry \
    mmdebstrap:mmdebstrap runc:runc slirp4netns:slirp4netns newuidmap:uidmap npm:npm curl:curl ps:procps; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
  done
  if [ "${#need[@]}" -gt 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  command -v bun >/dev/null 2>&1 || die "bun is not on PATH (the host runs pipbot chat/release and the simulator)"
  # The host side (simulator, pipbot chat, pipbot release) runs from this checkout.
  [ -d node_modules ] || bun install --frozen-lockfile >/dev/null || die "bun install failed"
  lap tools

  # ---------------------------------------------------------------- 2. own config, nothing in /etc
  if [ -z "$WORK" ]; then
    WORK=$(mktemp -d /var/tmp/pipbot-e2e.XXXXXX)
  elif [ -e "$WORK" ] && [ -n "$(ls -A "$WORK")" ]; then
    WORK="" && die "PIPBOT_E2E_WORK must be a new or empty directory (everything in it is removed at the end)"
  fi
  # slirp4netns's API socket is $WORK/t/<64 hex>.net, and a socket path must stay under 108 bytes.
  [ "${#WORK}" -le 36 ] || { WORK="" && die "PIPBOT_E2E_WORK must be at most 36 characters long (a socket path lives in it)"; }
  mkdir -p "$WORK"/{conf,tmp,volume,volume2,volume3,reg-fly,reg-backup,build-ca} "$CACHE"
  FLY_PORT=$(free_port)
  BACKUP_PORT=$(free_port)
  write_configs
  export CONTAINERS_CONF="$WORK/conf/containers.conf"
  export CONTAINERS_STORAGE_CONF="$WORK/conf/storage.conf"
  export CONTAINERS_REGISTRIES_CONF="$WORK/conf/registries.conf"
  export TMPDIR="$WORK/tmp"
  export BUILDAH_ISOLATION=chroot
  POLICY=(--signature-policy "$WORK/conf/policy.json")

  # What the Dockerfile pins: FROM oven/bun:<version>-debian.
  BASE_NAME=$(awk 'toupper($1) == "FROM" { print $2; exit }' Dockerfile.integrated)
  BUN_VERSION=$(printf '%s' "$BASE_NAME" | sed -n 's|^oven/bun:\([0-9][0-9.]*\)-debian$|\1|p')
  [ -n "$BUN_VERSION" ] || die "Dockerfile.integrated's first FROM is \"$BASE_NAME\", not oven/bun:<x.y.z>-debian"
  echo "Dockerfile.integrated builds FROM $BASE_NAME (Bun $BUN_VERSION)"

  # ---------------------------------------------------------------- 3. stand-in base (cached)
  phase "stand-in base $BASE_NAME"
  build_base || die "could not build the stand-in base image"
  lap base

  # ---------------------------------------------------------------- 4. the real build
  phase "build Dockerfile.integrated"
  GIT_SHA=$(git rev-parse HEAD 2>/dev/null || echo "0000000000000000000000000000000000000000")
  BUILD_TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  IMAGE="localhost/pipbot-e2e:${GIT_SHA:0:12}"
  export E2E_IMAGE="$IMAGE"
  # --layers: one layer per instruction, as Docker/BuildKit (Fly's builder) makes them.
  build_args=(--isolation chroot --network host --format docker --pull=never --layers
    --build-arg "GIT_SHA=$GIT_SHA" --build-arg "BUILD_TIME=$BUILD_TIME" "${POLICY[@]}")
  # /root of the build is a directory of the cache, bind-mounted for the RUN steps only (the base
  # has /root, so no mount point is left in a layer): Bun's install cache persists there between
  # runs (content-addressed, checked against bun.lock's integrity hashes), and the machine's
  # locally added CAs (what update-ca-certificates installs from /usr/local/share/ca-certificates)
  # reach `bun install` through a global bunfig there. Never a layer, never an ENV: checked below.
  BUILD_ROOT="$CACHE/build-root"
  mkdir -p "$BUILD_ROOT"
  rm -f "$BUILD_ROOT/.bunfig.toml" "$BUILD_ROOT/local-ca.crt"
  shopt -s nullglob
  local_cas=(/usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt)
  shopt -u nullglob
  if [ "${#local_cas[@]}" -gt 0 ]; then
    cat "${local_cas[@]}" >"$WORK/build-ca/local-ca.crt"
    cp "$WORK/build-ca/local-ca.crt" "$BUILD_ROOT/local-ca.crt"
    printf '[install]\ncafile = "/root/local-ca.crt"\n' >"$BUILD_ROOT/.bunfig.toml"
    echo "build-only: ${#local_cas[@]} locally added CA(s) for bun install (bind-mounted /root)"
  fi
  build_args+=(--volume "$BUILD_ROOT:/root")
  if buildah bud "${build_args[@]}" -f Dockerfile.integrated -t "$IMAGE" . >"$WORK/build.log" 2>&1; then
    pass "build: Dockerfile.integrated, as committed, builds with GIT_SHA=${GIT_SHA:0:12}… BUILD_TIME=$BUILD_TIME"
  else
    tail -40 "$WORK/build.log" >&2
    fail "build: Dockerfile.integrated" "buildah bud failed (last lines above; full log $WORK/build.log)"
    exit 1
  fi
  lap build
  check_image_contents

  # ---------------------------------------------------------------- 5. boot and check
  phase "boot on a fresh volume"
  SIM_PORT=$(free_port)
  start_simulator "$SIM_PORT"
  TOKEN="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  GW_PORT=$(free_port)
  boot_t0=$(date +%s%N)
  run_pipbot pipbot-e2e "$WORK/volume" "$GW_PORT" "$IMAGE" || true
  if wait_ready "$GW_PORT" pipbot-e2e; then
    BOOT_MS=$((($(date +%s%N) - boot_t0) / 1000000))
    pass "ready: /healthz and /readyz answer 200 from the host ($BOOT_MS ms cold boot to ready)"
    check_booted pipbot-e2e "$WORK/volume" "$GW_PORT"
    check_stop pipbot-e2e "$WORK/volume"
    phase "restart on the same volume"
    run_pipbot pipbot-e2e-restart "$WORK/volume" "$GW_PORT" "$IMAGE" || true
    if wait_ready "$GW_PORT" pipbot-e2e-restart; then
      check_history "$GW_PORT"
    else
      fail "restart: ready on the same volume" "$(logs_tail pipbot-e2e-restart)"
    fi
    podman stop -t "$KILL_TIMEOUT" pipbot-e2e-restart >/dev/null 2>&1 || true
  else
    fail "ready: /healthz and /readyz from the host" "$(logs_tail pipbot-e2e)"
  fi
  lap boot

  phase "refusals (exit 78, no crash loop)"
  check_refusal "half configuration (CONVEX_URL without its identity)" CONVEX_URL=https://e2e.convex.cloud
  check_refusal "public gateway without CLAWDBOT_GATEWAY_TOKEN" CLAWDBOT_GATEWAY_TOKEN=
  lap refusals

  # ---------------------------------------------------------------- 6. release path
  phase "release: push, pipbot release's backup copy, digests, boot from the backup"
  release_path
  lap release

  phase "Nix path"
  note "Dockerfile.nix / flake.nix are NOT built here: they need the nixpkgs tarball (github.com), which this machine cannot reach; the offline flake checks (nix-instantiate --parse, nix flake check --no-build against a stub) run in bun test (test/deploy/flake.test.ts)"
}

main "$@"
