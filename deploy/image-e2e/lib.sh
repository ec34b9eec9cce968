# shellcheck shell=bash
# Functions of deploy/image-e2e.sh (sourced; reads its globals: ROOT HERE WORK CACHE START IMAGE …).

RESULTS=()
TIMES=()
FAILED=0
PASSED=0
PIDS=()
CONTAINERS=()
LAP_T=$(date +%s)

phase() { printf '\n== %s\n' "$1"; }
pass() { RESULTS+=("PASS  $1"); PASSED=$((PASSED + 1)); echo "  ok    $1"; }
fail() {
  RESULTS+=("FAIL  $1${2:+ — $2}")
  FAILED=$((FAILED + 1))
  echo "  FAIL  $1${2:+ — $2}" >&2
}
note() { RESULTS+=("NOTE  $1"); echo "  note  $1"; }
die() { fail "setup" "$1"; exit 1; }
lap() {
  local now
  now=$(date +%s)
  TIMES+=("$1 $((now - LAP_T))s")
  LAP_T=$now
}

cleanup() {
  local code=$?
  set +e
  trap - ERR
  # Only ever this run's own storage (never the machine's default /var/lib/containers).
  if [ -n "${CONTAINERS_STORAGE_CONF:-}" ]; then
    for c in "${CONTAINERS[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  # conmon runs `podman container cleanup` after a container ends, reading this run's config
  # files: wait for every process that names $WORK to end before the files go away (else it
  # falls back to the machine's defaults in /run/libpod, /var/lib/containers, /etc/cni).
  if [ -n "${WORK:-}" ]; then
    wait_until 30 no_process_in "$WORK" || echo "warning: processes still use $WORK" >&2
  fi
  if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
    if [ "${PIPBOT_E2E_KEEP:-0}" = "1" ]; then
      echo "kept $WORK (PIPBOT_E2E_KEEP=1)"
    else
      # Images and layers live in $WORK/storage; unmount anything podman left mounted there.
      [ -n "${CONTAINERS_STORAGE_CONF:-}" ] && podman image unmount --all >/dev/null 2>&1
      grep -F " $WORK/" /proc/mounts | awk '{ print $2 }' | sort -r | xargs -r -n1 umount -l 2>/dev/null
      rm -rf "$WORK"
    fi
  fi
  # containers/image keeps a blob-info cache in /var/lib/containers/cache for root whatever the
  # storage config says: remove it when this run created it.
  [ "${VARLIB_CONTAINERS_EXISTED:-1}" = "0" ] && rm -rf /var/lib/containers
  echo
  echo "==================== image e2e summary ===================="
  printf '%s\n' "${RESULTS[@]}"
  echo "times: ${TIMES[*]} (total $(($(date +%s) - START))s)"
  if [ "$FAILED" -eq 0 ] && [ "$code" -eq 0 ]; then
    echo "image e2e: PASSED ($PASSED checks)"
  else
    echo "image e2e: FAILED ($FAILED failed, $PASSED passed, exit ${code/#0/1})" >&2
    [ "$code" -eq 0 ] && code=1
  fi
  exit "$code"
}

no_process_in() {
  local f
  for f in /proc/[0-9]*/cmdline; do
    [ "${f#/proc/}" = "$$/cmdline" ] && continue
    tr '\0' ' ' 2>/dev/null <"$f" | grep -qF -- "$1" && return 1
  done
  return 0
}

free_port() {
  bun -e 'const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() }); console.log(s.port); s.stop(true);'
}

# wait_until SECONDS CMD… — poll a condition (every 0.25 s) until it holds or the deadline passes.
wait_until() {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.25
  done
}

http_ok() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" = "200" ]; }

write_configs() {
  local driver="${PIPBOT_E2E_STORAGE_DRIVER:-overlay}"
  cat >"$WORK/conf/storage.conf" <<EOF
[storage]
driver = "$driver"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
  cat >"$WORK/conf/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=8192:8192"]
log_driver = "k8s-file"
netns = "slirp4netns"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/t"
volume_path = "$WORK/storage/volumes"
[network]
network_config_dir = "$WORK/conf/net"
EOF
  mkdir -p "$WORK/conf/net"
  # registry.fly.io is the first loopback registry (for skopeo in `pipbot release`); both are
  # plain-HTTP loopback registries. No short name resolves anywhere but docker.io.
  cat >"$WORK/conf/registries.conf" <<EOF
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
[[registry]]
prefix = "registry.fly.io"
location = "127.0.0.1:$FLY_PORT"
insecure = true
[[registry]]
location = "127.0.0.1:$FLY_PORT"
insecure = true
[[registry]]
location = "127.0.0.1:$BACKUP_PORT"
insecure = true
EOF
  echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$WORK/conf/policy.json"
  # fly-integrated.toml's [env]: what a Fly machine of this app gets.
  bun -e 'const t = Bun.TOML.parse(await Bun.file("fly-integrated.toml").text()); for (const [k, v] of Object.entries(t.env ?? {})) console.log(`${k}=${v}`); console.log(`KILL_TIMEOUT=${t.kill_timeout}`);' \
    >"$WORK/fly.env"
  KILL_TIMEOUT=$(sed -n 's/^KILL_TIMEOUT=//p' "$WORK/fly.env")
  sed -i '/^KILL_TIMEOUT=/d' "$WORK/fly.env"
}

# The machine's own Debian apt sources (one-line or deb822), for mmdebstrap.
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -Eq '^[^#]*(deb |URIs:).*debian' "$f" && echo "$f"
  done
}

# The stand-in for oven/bun:<v>-debian: Debian bookworm minbase + the real Bun from npm. The
# rootfs tarball and the Bun binary are cached, keyed by every input (sources, suite, mmdebstrap
# version, Bun version) plus the ISO week, so Debian's updates come in weekly.
build_base() {
  local sources key rootfs bundir
  mapfile -t sources < <(apt_sources)
  [ "${#sources[@]}" -gt 0 ] || { echo "no Debian apt sources in /etc/apt" >&2; return 1; }
  # Like debian:bookworm-slim, which oven/bun:<v>-debian is built on: no man pages, docs (but
  # copyright files) or translations, and apt keeps no package cache (its docker-clean hooks).
  local slim=(
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
    --aptopt='DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; }'
    --aptopt='APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; }'
    --aptopt='Dir::Cache::pkgcache ""' --aptopt='Dir::Cache::srcpkgcache ""'
    --aptopt='Acquire::Languages "none"' --aptopt='Acquire::GzipIndexes "true"'
  )
  key=$( (cat "${sources[@]}"; echo "minbase bookworm tar ${slim[*]}"; mmdebstrap --version; date -u +%G-W%V) | sha256sum | cut -c1-16)
  rootfs="$CACHE/rootfs-bookworm-minbase-$key.tar"
  if [ -f "$rootfs" ] && [ -s "$rootfs" ]; then
    echo "rootfs: cached ($rootfs)"
  else
    echo "rootfs: mmdebstrap --variant=minbase bookworm (sources: ${sources[*]})"
    rm -rf "$CACHE"/rootfs-bookworm-minbase-*
    mmdebstrap --variant=minbase --format=tar --quiet "${slim[@]}" bookworm "$rootfs.part" "${sources[@]}" || return 1
    mv "$rootfs.part" "$rootfs"
  fi
  bundir="$CACHE/bun-linux-x64-$BUN_VERSION"
  if [ -x "$bundir/bun" ] && [ "$("$bundir/bun" --version)" = "$BUN_VERSION" ]; then
    echo "bun: cached ($bundir/bun)"
  else
    echo "bun: npm @oven/bun-linux-x64@$BUN_VERSION (package/bin/bun)"
    rm -rf "$bundir" && mkdir -p "$bundir"
    (cd "$bundir" && npm pack --silent "@oven/bun-linux-x64@$BUN_VERSION" >/dev/null && tar -xzf ./*.tgz package/bin/bun) || return 1
    mv "$bundir/package/bin/bun" "$bundir/bun" && rm -rf "$bundir/package" "$bundir"/*.tgz
    [ "$("$bundir/bun" --version)" = "$BUN_VERSION" ] || { echo "npm's bun is not $BUN_VERSION" >&2; return 1; }
  fi
  local ctr
  ctr=$(buildah from --pull=never scratch) || return 1
  buildah add --quiet "$ctr" "$rootfs" / >/dev/null &&
    buildah copy --quiet --chmod 0755 "$ctr" "$bundir/bun" /usr/local/bin/bun >/dev/null &&
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --cmd '["/usr/local/bin/bun"]' \
      --label "org.opencontainers.image.description=stand-in for $BASE_NAME (deploy/image-e2e.sh)" "$ctr" &&
    buildah commit --quiet --format docker --rm "$ctr" "docker.io/$BASE_NAME" >/dev/null || return 1
  echo "tagged docker.io/$BASE_NAME"
}

# What the built image holds, and what it must not hold.
check_image_contents() {
  phase "image contents"
  local mnt inspect
  inspect=$(podman image inspect "$IMAGE") || { fail "image: inspect"; return; }
  printf '%s' "$inspect" >"$WORK/image.json"
  # shellcheck disable=SC2016
  bun -e '
    const [img] = JSON.parse(await Bun.file(process.argv[1]).text());
    const c = img.Config ?? {};
    const hc = img.HealthCheck ?? img.Healthcheck ?? c.Healthcheck;
    const out = {
      healthcheck: hc?.Test?.join(" ") ?? "",
      stopSignal: c.StopSignal ?? "",
      revision: c.Labels?.["org.opencontainers.image.revision"] ?? "",
      created: c.Labels?.["org.opencontainers.image.created"] ?? "",
      layers: img.RootFS?.Layers?.length ?? 0,
      size: img.Size ?? 0,
      user: c.User ?? "",
      env: (c.Env ?? []).join(" "),
    };
    for (const [k, v] of Object.entries(out)) console.log(`${k}=${v}`);
  ' "$WORK/image.json" >"$WORK/image.facts" || { fail "image: read config"; return; }
  fact() { sed -n "s/^$1=//p" "$WORK/image.facts"; }
  LAYERS=$(fact layers)
  SIZE_MB=$(($(fact size) / 1000000))
  [[ "$(fact healthcheck)" == *"/healthz"* ]] && pass "image: HEALTHCHECK kept (--format docker)" || fail "image: HEALTHCHECK" "missing in the image config"
  [ "$(fact stopSignal)" = "SIGTERM" ] && pass "image: STOPSIGNAL SIGTERM" || fail "image: STOPSIGNAL" "got '$(fact stopSignal)'"
  [ "$(fact revision)" = "$GIT_SHA" ] && [ "$(fact created)" = "$BUILD_TIME" ] &&
    pass "image: OCI labels carry GIT_SHA and BUILD_TIME" || fail "image: OCI labels" "revision=$(fact revision) created=$(fact created)"
  [[ "$(fact env)" != *"pipbot-build"* && "$(fact env)" != *"CA_CERT"* ]] &&
    pass "image: no build-only variable in its ENV" || fail "image: ENV" "$(fact env)"
  note "image: $LAYERS layers, $SIZE_MB MB uncompressed (stand-in base included)"

  mnt=$(podman image mount "$IMAGE") || { fail "image: mount"; return; }
  local leftovers=()
  for p in /root/.bunfig.toml /root/local-ca.crt /root/.bun /tmp/pipbot-resolve-check /app/test /app/docs /app/bench /app/.git /app/.env; do
    [ -e "$mnt$p" ] || [ -L "$mnt$p" ] && leftovers+=("$p")
  done
  if [ -s "$WORK/build-ca/local-ca.crt" ]; then
    # A line from the middle of each locally added CA must appear in no file of the image.
    local line
    while read -r line; do
      grep -rqsF -- "$line" "$mnt" && leftovers+=("a locally added CA (found: ${line:0:16}…)")
    done < <(awk '/BEGIN CERT/ { n = 0 } { n++ } n == 4' "$WORK/build-ca/local-ca.crt")
  fi
  [ "${#leftovers[@]}" -eq 0 ] && pass "image: no build-only file left (CA, bunfig, resolve check, tests, docs)" ||
    fail "image: build-only files left" "${leftovers[*]}"
  # A direct dev dependency may still be there as some production package's own dependency.
  local dev
  dev=$(bun -e '
    const [root, mods] = process.argv.slice(1);
    const { readdirSync, readFileSync, existsSync } = require("node:fs");
    const pkg = JSON.parse(readFileSync(`${root}/package.json`, "utf8"));
    const prod = new Set(Object.keys(pkg.dependencies ?? {}));
    const needed = new Set();
    const dirs = readdirSync(mods).flatMap((d) => d.startsWith("@") ? readdirSync(`${mods}/${d}`).map((s) => `${d}/${s}`) : [d]);
    for (const d of dirs) {
      const f = `${mods}/${d}/package.json`;
      if (!existsSync(f)) continue;
      const p = JSON.parse(readFileSync(f, "utf8"));
      for (const k of ["dependencies", "optionalDependencies", "peerDependencies"]) for (const n of Object.keys(p[k] ?? {})) needed.add(n);
    }
    const leaked = Object.keys(pkg.devDependencies ?? {}).filter((d) => !prod.has(d) && !needed.has(d) && existsSync(`${mods}/${d}`));
    console.log(leaked.join(" "));
  ' "$ROOT" "$mnt/app/node_modules") || dev="(could not check)"
  [ -z "$dev" ] && pass "image: no dev dependency in /app/node_modules (only what production packages need)" ||
    fail "image: dev dependencies in the image" "$dev"
  [ "$(cat "$mnt/app/build-info.json" 2>/dev/null)" = "{\"gitSha\":\"$GIT_SHA\",\"buildTime\":\"$BUILD_TIME\"}" ] &&
    pass "image: /app/build-info.json baked" || fail "image: build-info.json" "$(cat "$mnt/app/build-info.json" 2>&1)"
  NODE_MODULES_MB=$(($(du -sb "$mnt/app/node_modules" | cut -f1) / 1000000))
  APP_MB=$(($(du -sb "$mnt/app" | cut -f1) / 1000000))
  note "image: /app is $APP_MB MB, of which node_modules $NODE_MODULES_MB MB"
  podman image unmount "$IMAGE" >/dev/null
}

start_simulator() {
  # The providers live outside the VM: the upstream simulator runs on the host, and the
  # container reaches the host's loopback at 10.0.2.2 (slirp4netns allow_host_loopback).
  bun src/cli.ts dev upstream-sim --port "$1" --host 127.0.0.1 >"$WORK/sim.log" 2>&1 &
  PIDS+=($!)
  wait_until 30 http_ok "http://127.0.0.1:$1/healthz" || die "the upstream simulator did not start ($WORK/sim.log)"
}

# run_pipbot NAME VOLUME_DIR HOST_PORT IMAGE [VAR=value…] — boot like a Fly machine of this app:
# fly-integrated.toml's [env], a token, the image ref, the volume at /data; the AI server talks
# to the simulator in direct mode. Extra VAR=value override (VAR= removes).
run_pipbot() {
  local name="$1" vol="$2" port="$3" image="$4"
  shift 4
  local envf="$WORK/$name.env"
  {
    cat "$WORK/fly.env"
    echo "CLAWDBOT_GATEWAY_TOKEN=$TOKEN"
    echo "FLY_IMAGE_REF=registry.fly.io/pipbot-prod:e2e-${GIT_SHA:0:7}"
    echo "FLY_MACHINE_ID=$name"
    echo "PIPBOT_SIMULATOR=1"
    echo "AI_DEFAULT_MODEL=anthropic/simulator"
    echo "ANTHROPIC_API_KEY=sim"
    echo "ANTHROPIC_BASE_URL=http://10.0.2.2:$SIM_PORT"
  } >"$envf"
  local kv
  for kv in "$@"; do
    sed -i "/^${kv%%=*}=/d" "$envf"
    [ -n "${kv#*=}" ] && echo "$kv" >>"$envf"
  done
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  CONTAINERS+=("$name")
  podman run -d --name "$name" \
    --network slirp4netns:allow_host_loopback=true,port_handler=slirp4netns \
    -p "127.0.0.1:$port:18789" \
    --ulimit nofile=16384:16384 --ulimit nproc=8192:8192 \
    -v "$vol:/data" --env-file "$envf" "$image" >/dev/null 2>"$WORK/$name.run.log" && return 0
  fail "podman run $name" "$(grep -v 'systemd' "$WORK/$name.run.log" | tail -3 | tr '\n' ' ')"
  return 1
}

running() { [ "$(podman inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = "true" ]; }
logs_tail() { podman logs --tail 15 "$1" 2>&1 | cut -c1-300; }

ready() { running "$2" && http_ok "http://127.0.0.1:$1/healthz" && http_ok "http://127.0.0.1:$1/readyz"; }
wait_ready() {
  local port="$1" name="$2"
  local deadline=$(($(date +%s) + 90))
  until ready "$port" "$name"; do
    running "$name" || return 1
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.25
  done
}

check_identity() {
  local name="$1" lines
  lines=$(podman logs "$name" 2>&1 | grep '"event":"identity"' || true)
  local total good
  total=$(printf '%s' "$lines" | grep -c . || true)
  good=$(printf '%s' "$lines" | grep -F "\"gitSha\":\"$GIT_SHA\"" | grep -cF "\"buildTime\":\"$BUILD_TIME\"" || true)
  if [ "$total" -ge 4 ] && [ "$good" -eq "$total" ]; then
    pass "identity: $total identity lines (supervisor, ai, sync, gateway) carry the SHA and build time${3:+ ($3)}"
  else
    fail "identity lines${3:+ ($3)}" "$good of $total carry gitSha=$GIT_SHA buildTime=$BUILD_TIME"
  fi
}

check_booted() {
  local name="$1" vol="$2" port="$3"
  check_identity "$name"
  # Every process of the container, from the host: tini (PID 1 in the container) is the only root.
  local pid1 procs bad
  pid1=$(podman inspect -f '{{.State.Pid}}' "$name")
  procs=$(ps -e -o pid=,ppid=,uid=,args= | awk -v root="$pid1" '
    { pid[NR] = $1; ppid[NR] = $2; line[NR] = $0 }
    END { keep[root] = 1; changed = 1
      while (changed) { changed = 0; for (i = 1; i <= NR; i++) if (!(pid[i] in keep) && (ppid[i] in keep)) { keep[pid[i]] = 1; changed = 1 } }
      for (i = 1; i <= NR; i++) if (pid[i] in keep) print line[i] }')
  printf '%s\n' "$procs" >"$WORK/$name.procs"
  bad=$(printf '%s\n' "$procs" | awk -v root="$pid1" '$1 != root && $3 != 10001')
  local missing="" p root_uid
  for p in start ai sync gateway; do
    printf '%s\n' "$procs" | awk '$3 == 10001' | grep -q "bun src/cli.ts $p\$" || missing="$missing $p"
  done
  root_uid=$(printf '%s\n' "$procs" | awk -v root="$pid1" '$1 == root { print $3 }')
  if [ -z "$bad" ] && [ -z "$missing" ] && [ "$root_uid" = "0" ] && printf '%s\n' "$procs" | awk -v root="$pid1" '$1 == root' | grep -q tini; then
    pass "users: PID 1 is tini (root, what ran the entrypoint); the supervisor, ai, sync and gateway — every other process — run as 10001"
  else
    fail "users: processes" "$(printf '%s\n' "$procs" | cut -c1-160 | tr '\n' ';')"
  fi
  # The volume was root-owned (a fresh Fly volume): only the root entrypoint can have handed it over.
  local owner dbs
  owner=$(stat -c %u:%g "$vol")
  dbs=$(find "$vol" -maxdepth 2 -type f \( -name '*.db' -o -name '*.sqlite' \) -printf '%p %u:%g\n')
  if [ "$owner" = "10001:10001" ] && [ -n "$dbs" ] && ! printf '%s\n' "$dbs" | grep -qv ' 10001:10001$'; then
    pass "volume: /data handed to 10001 by the entrypoint; SQLite store on it ($(printf '%s\n' "$dbs" | sed "s|$vol/||; s| .*||" | tr '\n' ' '| sed 's/ $//'))"
  else
    fail "volume ownership / SQLite store" "volume $owner; files: $(printf '%s' "$dbs" | tr '\n' ';')"
  fi
  if podman healthcheck run "$name" >/dev/null 2>&1; then pass "HEALTHCHECK: the image's own check passes"; else
    fail "HEALTHCHECK" "$(podman healthcheck run "$name" 2>&1 | tail -2)"
  fi
  CHAT_TEXT="image e2e round trip $RANDOM$RANDOM"
  local out
  if out=$(timeout 60 bun src/cli.ts chat --url "ws://127.0.0.1:$port" --token "$TOKEN" "$CHAT_TEXT" 2>&1) &&
    [[ "$out" == *"You said: $CHAT_TEXT"* ]]; then
    pass "chat: pipbot chat round trip through the published port (simulator reply streamed)"
  else
    fail "chat round trip" "$(printf '%s' "$out" | tail -3 | tr '\n' ' ')"
  fi
}

check_stop() {
  local name="$1" vol="$2" t0 ms code wal
  t0=$(date +%s%N)
  podman stop -t "$KILL_TIMEOUT" "$name" >/dev/null 2>&1
  ms=$((($(date +%s%N) - t0) / 1000000))
  code=$(podman inspect -f '{{.State.ExitCode}}' "$name")
  STOP_MS=$ms
  if [ "$code" = "0" ] && [ "$ms" -lt $((KILL_TIMEOUT * 1000)) ]; then
    pass "SIGTERM: exit 0 after $ms ms (kill_timeout ${KILL_TIMEOUT}s)"
  else
    fail "SIGTERM stop" "exit $code after $ms ms (kill_timeout ${KILL_TIMEOUT}s); $(logs_tail "$name" | tail -3 | tr '\n' ' ')"
  fi
  wal=$(find "$vol" -maxdepth 2 -name '*-wal' -size +0 -printf '%p(%s bytes) ')
  [ -z "$wal" ] && pass "WAL: checkpointed (no non-empty -wal file on the volume after the stop)" ||
    fail "WAL checkpoint" "$wal"
}

check_history() {
  local out
  out=$(printf '/exit\n' | timeout 60 bun src/cli.ts chat --url "ws://127.0.0.1:$1" --token "$TOKEN" 2>&1) || true
  if [[ "$out" == *"you: $CHAT_TEXT"* && "$out" == *"You said: $CHAT_TEXT"* ]]; then
    pass "restart: the conversation is still there on the same volume (chat.history over the gateway)"
  else
    fail "restart keeps the conversation" "$(printf '%s' "$out" | head -5 | tr '\n' ' ')"
  fi
}

# check_refusal WHAT VAR=value… — the image must exit 78 with ONE clear message (the supervisor's
# "not starting anything" block naming every bad variable), start no process, and not crash-loop.
check_refusal() {
  local what="$1" name="pipbot-e2e-refuse-${#RESULTS[@]}" code logs blocks started
  shift
  mkdir -p "$WORK/refuse-vol-$name"
  run_pipbot "$name" "$WORK/refuse-vol-$name" "$(free_port)" "$IMAGE" "$@" || return 0
  code=$(timeout 60 podman wait "$name" 2>/dev/null || echo "none within 60 s")
  logs=$(podman logs "$name" 2>&1)
  printf '%s\n' "$logs" >"$WORK/$name.log"
  blocks=$(printf '%s\n' "$logs" | grep -c 'not starting anything' || true)
  started=$(printf '%s\n' "$logs" | grep -c '"event":"identity"' || true)
  local problems
  problems=$(printf '%s\n' "$logs" | sed -n 's/^  - \([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' ')
  if [ "$code" = "78" ] && [ "$blocks" -eq 1 ] && [ "$started" -le 1 ] && [ -n "$problems" ] &&
    ! printf '%s' "$logs" | grep -qiE 'restarting|crash.loop'; then
    pass "refuses $what: exit 78, one message naming $problems, nothing started"
  else
    fail "refuses $what" "exit $code, $blocks 'not starting anything' block(s), $started identity line(s): $(printf '%s' "$logs" | tail -4 | cut -c1-200 | tr '\n' ' ')"
  fi
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
}

start_registry() {
  local name="$1" port="$2"
  cat >"$WORK/conf/$name.yml" <<EOF
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: $WORK/$name } }
http: { addr: "127.0.0.1:$port" }
EOF
  docker-registry serve "$WORK/conf/$name.yml" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  wait_until 30 http_ok "http://127.0.0.1:$port/v2/" || die "docker-registry $name did not start ($WORK/$name.log)"
}

# skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF: pass the file (it makes the loopback registries plain HTTP).
sk() { skopeo --registries-conf "$CONTAINERS_REGISTRIES_CONF" "$@"; }
raw_digest() { sk inspect --raw "docker://$1" | sha256sum | cut -d' ' -f1; }

release_path() {
  start_registry reg-fly "$FLY_PORT"
  start_registry reg-backup "$BACKUP_PORT"
  local out tag ref backup code=0
  # The real `pipbot release`, with deploy/image-e2e/fly standing in for flyctl (it pushes the
  # image built above as an index) and the real skopeo for the backup copy and digest check.
  out=$(E2E_FLY_REGISTRY="127.0.0.1:$FLY_PORT" E2E_SKOPEO="$(command -v skopeo)" PATH="$HERE:$PATH" \
    PIPBOT_RELEASE_LOG="$WORK/release-log.jsonl" PIPBOT_PROVISIONING_CMD='echo provision {ref}' \
    bun src/cli.ts release --allow-dirty --backup-repo "127.0.0.1:$BACKUP_PORT/pipbot" 2>&1) || code=$?
  printf '%s\n' "$out" >"$WORK/release.log"
  tag=$(printf '%s' "$out" | sed -n 's|^Released registry.fly.io/pipbot-prod:\(deploy-[0-9]*-[0-9a-f]*\)$|\1|p')
  if [ "$code" -ne 0 ] || [ -z "$tag" ]; then
    fail "pipbot release (fake fly, real skopeo)" "exit $code: $(printf '%s' "$out" | tail -4 | tr '\n' ' ')"
    return
  fi
  pass "pipbot release: pushed, backed up and verified $tag"
  ref="127.0.0.1:$FLY_PORT/pipbot-prod:$tag"
  backup="127.0.0.1:$BACKUP_PORT/pipbot:$tag"
  local d1 d2 mt
  d1=$(raw_digest "$ref") || d1=""
  d2=$(raw_digest "$backup") || d2=""
  mt=$(sk inspect --raw "docker://$backup" | bun -e 'console.log(JSON.parse(await Bun.stdin.text()).mediaType ?? "")') || mt=""
  if [ -n "$d1" ] && [ "$d1" = "$d2" ] && [[ "$mt" == *list* || "$mt" == *index* ]]; then
    pass "backup: byte-identical to the pushed index (sha256:${d1:0:16}…, $mt)"
  else
    fail "backup digest" "pushed sha256:$d1, backup sha256:$d2 ($mt)"
  fi
  # What the copy did before the fix, for the record: without --all the index becomes one manifest.
  if sk copy --quiet "docker://$ref" "docker://127.0.0.1:$BACKUP_PORT/pipbot:without-all" >/dev/null 2>&1; then
    note "skopeo copy WITHOUT --all gives sha256:$(raw_digest "127.0.0.1:$BACKUP_PORT/pipbot:without-all" | cut -c1-16)… instead of sha256:${d1:0:16}… (the bug fixed in src/release/plan.ts)"
  fi
  # Compressed size: the platform manifest's layer blobs as stored in the registry.
  local inner
  inner=$(sk inspect --raw "docker://$backup" | bun -e 'console.log(JSON.parse(await Bun.stdin.text()).manifests[0].digest)')
  COMPRESSED_MB=$(sk inspect --raw "docker://127.0.0.1:$BACKUP_PORT/pipbot@$inner" |
    bun -e '
      const m = JSON.parse(await Bun.stdin.text());
      const mb = (n) => (n / 1e6).toFixed(1);
      const sizes = m.layers.map((l) => l.size);
      const total = sizes.reduce((a, b) => a + b, 0);
      console.log(`${mb(total)} MB in ${sizes.length} layers: stand-in base ${mb(sizes[0])} MB + pipbot ${mb(total - sizes[0])} MB (${sizes.slice(1).map(mb).join(" / ")})`);
    ')
  note "registry: compressed image $COMPRESSED_MB"

  phase "boot the image pulled back from the backup registry"
  podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  if ! podman pull --quiet --tls-verify=false "${POLICY[@]}" "docker://$backup" >/dev/null 2>&1; then
    fail "pull from the backup registry" "$backup"
    return
  fi
  local port
  port=$(free_port)
  run_pipbot pipbot-e2e-backup "$WORK/volume3" "$port" "$backup" || return 0
  if wait_ready "$port" pipbot-e2e-backup; then
    pass "backup image: boots to ready from $backup"
    check_identity pipbot-e2e-backup "" "image pulled from the backup"
  else
    fail "backup image boots" "$(logs_tail pipbot-e2e-backup)"
  fi
  podman stop -t "$KILL_TIMEOUT" pipbot-e2e-backup >/dev/null 2>&1 || true
}
