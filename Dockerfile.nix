# syntax=docker/dockerfile:1
# pipbot AI server alone, built with Nix (separate mode: the Fly app of fly.toml). The build stage
# runs `nix build .#ai-server-bundle` (flake.nix: Bun 1.4.5 pinned by hash, node_modules pinned
# by deploy/nix-deps.json) and copies its closure into a scratch image. The build context is the
# repository root. Offline checks of this file: test/deploy/dockerfiles.test.ts.

# Exact Nix image version. Never `latest`.
FROM nixos/nix:2.24.9 AS build
WORKDIR /build
# flake.lock pins nixpkgs; `flake.lock*` keeps the build working before the first `nix flake lock`.
COPY flake.nix flake.lock* package.json bun.lock bunfig.toml tsconfig.json Procfile ./
COPY deploy/nix-deps.json ./deploy/nix-deps.json
COPY src ./src
RUN nix --extra-experimental-features "nix-command flakes" build .#ai-server-bundle --out-link /build/result \
 && mkdir -p /rootfs/nix/store /rootfs/tmp /rootfs/home/pipbot /rootfs/etc \
 && cp -a $(nix-store --query --requisites /build/result) /rootfs/nix/store/ \
 && ln -s "$(readlink -f /build/result)" /rootfs/env \
 && chmod 1777 /rootfs/tmp \
 && chown -R 10001:10001 /rootfs/home/pipbot \
 && echo 'pipbot:x:10001:10001:pipbot:/home/pipbot:/sbin/nologin' > /rootfs/etc/passwd \
 && echo 'pipbot:x:10001:' > /rootfs/etc/group \
 && test -x /rootfs/env/bin/pipbot-ai \
 && test -x /rootfs/env/bin/tini \
 && test -x /rootfs/env/bin/bun \
 && test -f /rootfs/env/etc/ssl/certs/ca-bundle.crt

FROM scratch AS runtime
COPY --from=build /rootfs/ /
# Build identity: `pipbot release` passes --build-arg GIT_SHA=<sha> --build-arg BUILD_TIME=<ISO
# time>; the runtime logs them (PIPBOT_GIT_SHA / PIPBOT_BUILD_TIME win over build-info.json)
# with FLY_IMAGE_REF in its startup identity line.
ARG GIT_SHA=unknown
ARG BUILD_TIME=unknown
ENV PATH=/env/bin \
    SSL_CERT_FILE=/env/etc/ssl/certs/ca-bundle.crt \
    NODE_EXTRA_CA_CERTS=/env/etc/ssl/certs/ca-bundle.crt \
    HOME=/home/pipbot \
    TMPDIR=/tmp \
    NODE_ENV=production \
    PIPBOT_MODE=separate \
    DATA_DIR=/tmp/pipbot-data \
    AI_HOST=:: \
    AI_PORT=3000 \
    PIPBOT_GIT_SHA=$GIT_SHA \
    PIPBOT_BUILD_TIME=$BUILD_TIME
LABEL org.opencontainers.image.revision=$GIT_SHA \
      org.opencontainers.image.created=$BUILD_TIME \
      org.opencontainers.image.title=pipbot-ai
# No volume: the AI server keeps nothing that must survive a restart.
USER 10001:10001
EXPOSE 3000
# The AI server finishes or aborts in-flight streams on SIGTERM/SIGINT.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/env/bin/bun", "-e", "fetch('http://127.0.0.1:' + (process.env.AI_PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/env/bin/tini", "--"]
CMD ["/env/bin/pipbot-ai"]
