{
  # pipbot with Nix: the runtime packages, OCI images built with dockerTools, and a dev shell with
  # the SAME pinned Bun as Dockerfile.integrated (1.4.5). Dockerfile.nix builds `ai-server-bundle`
  # for the separate AI-server Fly app (fly.toml).
  #
  #   nix build .#pipbot-integrated   # bin/pipbot-start: the supervisor (gateway + AI server + sync)
  #   nix build .#ai-server           # bin/pipbot-ai: the AI server alone
  #   nix build .#image && docker load < result            # integrated image (dockerTools)
  #   nix build .#ai-server-image && docker load < result  # AI-server image (dockerTools)
  #   nix develop                     # bun 1.4.5, flyctl, skopeo
  #
  # Offline check (test/deploy/flake.test.ts): `nix flake check --no-build --override-input
  # nixpkgs path:test/fixtures/deploy/nixpkgs-stub`. flake.lock: run `nix flake lock` once with
  # network access and commit it (see docs/DEPLOY.md).
  description = "pipbot: gateway, AI server and sync worker on Bun - packages, images, dev shell";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      bunVersion = "1.4.5";
      # Bun itself comes from npm's per-platform packages: the exact version, checked against the
      # registry's own integrity hashes (`npm view @oven/bun-<platform>@<version> dist.integrity`),
      # whatever Bun the nixpkgs revision happens to carry.
      npmPlatform = {
        x86_64-linux = "linux-x64";
        aarch64-linux = "linux-aarch64";
        x86_64-darwin = "darwin-x64";
        aarch64-darwin = "darwin-aarch64";
      };
      bunIntegrity = {
        linux-x64 = "sha512-IWX9BELoGHAUtMonkeSaNaZwXzRk+oDw6Mk+HBFXd3KHYIBNBsIGRupMZPcgNoDbJpLu6gAJjIoIVPZtt1aJ1g==";
        linux-aarch64 = "sha512-4BXmsSKnjOrlGWqZV4x/oWa7AVoR+B6lCXddMzOAXBIm3t50eslg9wb66gmtW1AamEQ1l1CDvmmruysEhqOWMg==";
        darwin-x64 = "sha512-qkLPMGHZM9NI6CeHTWwVezzmlo6cC4Ta7yUAjYIWXS366qQcOlcp75t2uZyiuVRBMPS0h9qE0tCcvCHGaFqjJg==";
        darwin-aarch64 = "sha512-4MIFXHmctH2EhAxLXm2/qxNtv17dFtLJylvaOCsrgq6KSqHTs6eW5YSrJjRbJxYUJaR901fsN8JfZOa+CsWpWQ==";
      };
      bunDists = builtins.mapAttrs (_: platform: {
        pkg = "bun-${platform}";
        hash = bunIntegrity.${platform};
      }) npmPlatform;
      systems = builtins.attrNames bunDists;
      linuxSystems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forSystems = list: f: builtins.listToAttrs (map (system: { name = system; value = f system; }) list);

      packageJson = builtins.fromJSON (builtins.readFile ./package.json);
      version = packageJson.version;
      # node_modules is a fixed-output derivation: its hash is pinned for one bun.lock in
      # deploy/nix-deps.json (after a dependency change, `nix build .#nodeModules` prints the new
      # hash; `pipbot release --mode separate` refuses a stale pin).
      nixDeps = builtins.fromJSON (builtins.readFile ./deploy/nix-deps.json);

      gitSha = self.rev or self.dirtyRev or "unknown";
      stamp = self.lastModifiedDate or "19700101000000";
      buildTime =
        "${builtins.substring 0 4 stamp}-${builtins.substring 4 2 stamp}-${builtins.substring 6 2 stamp}"
        + "T${builtins.substring 8 2 stamp}:${builtins.substring 10 2 stamp}:${builtins.substring 12 2 stamp}Z";

      # Exactly what the runtime needs (the same list Dockerfile.integrated COPYs).
      keep = [
        "package.json"
        "bun.lock"
        "bunfig.toml"
        "tsconfig.json"
        "Procfile"
        "src"
      ];
      appSrc = builtins.path {
        path = ./.;
        name = "pipbot-src";
        filter =
          path: type:
          let
            rel = builtins.substring (builtins.stringLength (toString ./.) + 1) (-1) (toString path);
            top = builtins.head (builtins.split "/" rel);
          in
          builtins.elem top keep;
      };
      depsSrc = builtins.path {
        path = ./.;
        name = "pipbot-deps-src";
        filter =
          path: type:
          builtins.elem (baseNameOf path) [
            "package.json"
            "bun.lock"
            "bunfig.toml"
          ];
      };

      perSystem =
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          dist = bunDists.${system};
          isLinux = builtins.elem system linuxSystems;
          certFile = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";

          bun = pkgs.stdenvNoCC.mkDerivation {
            pname = "bun";
            version = bunVersion;
            src = pkgs.fetchurl {
              url = "https://registry.npmjs.org/@oven/${dist.pkg}/-/${dist.pkg}-${bunVersion}.tgz";
              hash = dist.hash;
            };
            sourceRoot = "package";
            nativeBuildInputs = if isLinux then [ pkgs.autoPatchelfHook ] else [ ];
            dontConfigure = true;
            dontBuild = true;
            dontStrip = true;
            installPhase = ''
              runHook preInstall
              install -Dm755 bin/bun "$out/bin/bun"
              ln -s bun "$out/bin/bunx"
              runHook postInstall
            '';
          };

          nodeModules = pkgs.stdenvNoCC.mkDerivation {
            pname = "pipbot-node-modules";
            inherit version;
            src = depsSrc;
            nativeBuildInputs = [ bun ];
            dontConfigure = true;
            buildPhase = ''
              runHook preBuild
              export HOME="$TMPDIR" BUN_INSTALL_CACHE_DIR="$TMPDIR/bun-cache" SSL_CERT_FILE="${certFile}"
              bun install --frozen-lockfile --production --ignore-scripts --no-progress
              runHook postBuild
            '';
            installPhase = ''
              runHook preInstall
              mv node_modules "$out"
              runHook postInstall
            '';
            # Patching shebangs would put store paths into a fixed-output derivation.
            dontFixup = true;
            outputHashMode = "recursive";
            outputHashAlgo = "sha256";
            outputHash = nixDeps.nodeModulesHash;
          };

          # The app tree: sources + node_modules + build-info.json, and one wrapper per entry point.
          # Wrappers chdir into the app (the supervisor reads ./Procfile, whose lines run `bun`).
          mkPipbot =
            {
              pname,
              mode,
              command,
              bin,
            }:
            pkgs.stdenvNoCC.mkDerivation {
              inherit pname version;
              src = appSrc;
              nativeBuildInputs = [ pkgs.makeWrapper ];
              dontConfigure = true;
              dontBuild = true;
              installPhase = ''
                runHook preInstall
                app="$out/lib/pipbot"
                mkdir -p "$app" "$out/bin"
                cp -R package.json bun.lock bunfig.toml tsconfig.json Procfile src "$app/"
                ln -s ${nodeModules} "$app/node_modules"
                printf '{"gitSha":"%s","buildTime":"%s"}\n' "${gitSha}" "${buildTime}" > "$app/build-info.json"
                makeWrapper ${bun}/bin/bun "$out/bin/pipbot" \
                  --chdir "$app" \
                  --prefix PATH : ${bun}/bin \
                  --set-default SSL_CERT_FILE "${certFile}" \
                  --set-default PIPBOT_MODE ${mode} \
                  --add-flags "$app/src/cli.ts"
                makeWrapper "$out/bin/pipbot" "$out/bin/${bin}" --add-flags "${command}"
                runHook postInstall
              '';
              passthru = {
                inherit bun nodeModules;
              };
            };

          pipbot-integrated = mkPipbot {
            pname = "pipbot-integrated";
            mode = "integrated";
            command = "start";
            bin = "pipbot-start";
          };
          ai-server = mkPipbot {
            pname = "pipbot-ai-server";
            mode = "separate";
            command = "ai";
            bin = "pipbot-ai";
          };

          # Everything the AI-server image needs in one tree: Dockerfile.nix copies its closure
          # into a scratch image and links it at /env (so /env/bin/{tini,bun,pipbot-ai} exist).
          ai-server-bundle = pkgs.buildEnv {
            name = "pipbot-ai-server-bundle-${version}";
            paths = [
              ai-server
              bun
              pkgs.tini
              pkgs.cacert
            ];
          };

          healthcheck = port: {
            Test = [
              "CMD"
              "${bun}/bin/bun"
              "-e"
              "fetch('http://127.0.0.1:${port}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
            ];
            Interval = 15000000000;
            Timeout = 5000000000;
            StartPeriod = 30000000000;
            Retries = 3;
          };

          # dockerTools images: CA certificates + SSL_CERT_FILE, a numeric non-root user, /tmp
          # (1777) and HOME, tini as the entrypoint (Bun would otherwise be PID 1).
          # They run as 10001 from the first instruction: fine for Docker named volumes (they take
          # /data's owner from the image), NOT for a fresh root-owned Fly volume. On Fly, the
          # integrated image is Dockerfile.integrated (its entrypoint hands the volume over).
          mkImage =
            {
              name,
              app,
              bin,
              port,
              env,
            }:
            pkgs.dockerTools.buildLayeredImage {
              inherit name;
              tag = "nix-${version}";
              contents = [
                app
                bun
                pkgs.tini
                pkgs.cacert
              ];
              extraCommands = ''
                mkdir -p tmp data home/pipbot
                chmod 1777 tmp
              '';
              fakeRootCommands = ''
                chown -R 10001:10001 data home/pipbot
              '';
              enableFakechroot = true;
              config = {
                User = "10001:10001";
                WorkingDir = "${app}/lib/pipbot";
                Entrypoint = [
                  "${pkgs.tini}/bin/tini"
                  "--"
                ];
                Cmd = [ "${app}/bin/${bin}" ];
                Env = [
                  "SSL_CERT_FILE=${certFile}"
                  "NODE_EXTRA_CA_CERTS=${certFile}"
                  "HOME=/home/pipbot"
                  "TMPDIR=/tmp"
                  "NODE_ENV=production"
                  "PATH=${bun}/bin:${app}/bin"
                ]
                ++ env;
                ExposedPorts = {
                  "${port}/tcp" = { };
                };
                StopSignal = "SIGTERM";
                Healthcheck = healthcheck port;
                Labels = {
                  "org.opencontainers.image.revision" = gitSha;
                  "org.opencontainers.image.created" = buildTime;
                  "org.opencontainers.image.title" = name;
                };
              };
            };
        in
        {
          packages = {
            inherit
              bun
              nodeModules
              pipbot-integrated
              ai-server
              ai-server-bundle
              ;
            default = pipbot-integrated;
          }
          // (
            if isLinux then
              {
                image = mkImage {
                  name = "pipbot";
                  app = pipbot-integrated;
                  bin = "pipbot-start";
                  port = "18789";
                  env = [
                    "PIPBOT_MODE=integrated"
                    "DATA_DIR=/data"
                    "GATEWAY_HOST=0.0.0.0"
                    "GATEWAY_PORT=18789"
                    "AI_HOST=127.0.0.1"
                    "AI_PORT=3000"
                  ];
                };
                ai-server-image = mkImage {
                  name = "pipbot-ai";
                  app = ai-server;
                  bin = "pipbot-ai";
                  port = "3000";
                  env = [
                    "PIPBOT_MODE=separate"
                    "DATA_DIR=/tmp/pipbot-data"
                    "AI_HOST=::"
                    "AI_PORT=3000"
                  ];
                };
              }
            else
              { }
          );

          devShell = pkgs.mkShell {
            packages = [
              bun
              pkgs.flyctl
              pkgs.skopeo
              pkgs.git
            ];
            shellHook = ''
              export SSL_CERT_FILE="${certFile}"
              echo "pipbot dev shell: bun $(bun --version) (pinned ${bunVersion})"
            '';
          };

          checks = {
            # Built by `nix flake check` (not with --no-build): the pinned Bun really is 1.4.5.
            bun-version = pkgs.runCommand "pipbot-bun-version-check" { } ''
              v="$(${bun}/bin/bun --version)"
              if [ "$v" != "${bunVersion}" ]; then
                echo "expected bun ${bunVersion}, got $v" >&2
                exit 1
              fi
              touch "$out"
            '';
            cli-loads = pkgs.runCommand "pipbot-cli-loads-check" { } ''
              HOME="$TMPDIR" ${pipbot-integrated}/bin/pipbot --version > "$out"
            '';
          };
        };

      all = forSystems systems perSystem;
    in
    {
      packages = builtins.mapAttrs (_: s: s.packages) all;
      devShells = builtins.mapAttrs (_: s: { default = s.devShell; }) all;
      checks = builtins.mapAttrs (_: s: s.checks) all;
    };
}
