#!/usr/bin/env bash
# Make sure JupyterHub's proxy (configurable-http-proxy, from npm) is installed for `make hub`
# and tests/test_hub.py. It goes into .venv/hub-proxy/ at the version pinned in
# tools/hub-proxy/package-lock.json (npm ci), never globally. Quick when already there.
# Needs Node.js 20 or newer with npm; says so in one line when they are missing.
set -uo pipefail
cd "$(dirname "$0")/.."
DEST=.venv/hub-proxy
BIN="$DEST/node_modules/.bin/configurable-http-proxy"
LOG="$DEST/install.log"

if [ -x "$BIN" ] && cmp -s tools/hub-proxy/package-lock.json "$DEST/package-lock.json"; then
  exit 0
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "error: JupyterHub's proxy needs Node.js 20 or newer with npm; install them (Debian: apt-get install nodejs npm, if its Node.js is 20 or newer), then run the command again." >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "error: JupyterHub's proxy (configurable-http-proxy 5.2) needs Node.js 20 or newer; this machine has $(node --version)." >&2
  exit 1
fi
echo "Installing JupyterHub's proxy into $DEST (npm; log: $LOG) ..."
rm -rf "$DEST"
mkdir -p "$DEST"
cp tools/hub-proxy/package.json tools/hub-proxy/package-lock.json "$DEST/"
if ! (cd "$DEST" && npm ci --no-audit --no-fund) >"$LOG" 2>&1; then
  tail -5 "$LOG" >&2
  echo "error: npm ci of configurable-http-proxy failed (see $LOG); check the network or the npm registry, then run the command again." >&2
  exit 1
fi
echo "configurable-http-proxy $("$BIN" --version) installed."
