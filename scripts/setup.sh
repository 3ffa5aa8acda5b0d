#!/usr/bin/env bash
# Installs every tool the build and the tests need, each only when the right
# version is missing, so a second run costs seconds. Called by scripts/run.sh
# and scripts/test.sh; safe to run by hand.
#
#   scripts/setup.sh          build tools (wasm target, wasm-bindgen, split-wasm, binaryen) and
#                             the site's npm packages (Twilio's Voice SDK, web/)
#   scripts/setup.sh --test   also Chromium, brotli, Playwright, PostgreSQL being up,
#                             and aiosmtpd (the SMTP server the mail tests deliver to)
#
# No cargo-leptos: scripts/build_site.sh drives cargo, wasm-bindgen and wasm-opt
# itself (docs/building.md).
set -euo pipefail
cd "$(dirname "$0")/.."

BINARYEN_VERSION=132.0.0
# wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock (pinned with `=` in Cargo.toml).
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock 2>/dev/null || true)
WASM_BINDGEN_VERSION=${WASM_BINDGEN_VERSION:-0.2.130}
TOOLS="$PWD/.tools"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
# cargo install puts wasm-bindgen in $CARGO_HOME/bin (~/.cargo/bin unless set).
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$TOOLS/node_modules/.bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! wasm-bindgen --version 2>/dev/null | grep -qw "$WASM_BINDGEN_VERSION"; then
  # No --locked: its lockfile pins a crate version the registry mirror lacks.
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes on 2 cores, once)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# split-wasm (tools/split-wasm): cuts the hydrate build's WASM at its lazy routes.
# Its own crate and lockfile; reinstalled only when its version changes.
SPLIT_WASM_VERSION=$(awk -F'"' '/^version = /{print $2; exit}' tools/split-wasm/Cargo.toml)
if ! "$TOOLS/bin/split-wasm" --version 2>/dev/null | grep -qx "split-wasm $SPLIT_WASM_VERSION"; then
  say "building split-wasm $SPLIT_WASM_VERSION into .tools/ (about a minute on 2 cores, once)"
  cargo install --locked --force --path tools/split-wasm --root "$TOOLS" \
    --target-dir "$TOOLS/split-wasm-build"
  rm -rf "$TOOLS/split-wasm-build"
fi

# binaryen from npm, whose JavaScript API shrinks the release site's modules
# (scripts/wasm_opt_all.mjs); never Debian's binaryen (its output fails to hydrate).
if [ "$(node -p "require('$TOOLS/node_modules/binaryen/package.json').version" 2>/dev/null)" != "$BINARYEN_VERSION" ]; then
  say "installing binaryen $BINARYEN_VERSION (npm) into .tools/"
  mkdir -p "$TOOLS"
  [ -f "$TOOLS/package.json" ] || echo '{"private":true}' > "$TOOLS/package.json"
  npm install --prefix "$TOOLS" --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
fi

# The site's own npm packages (web/package.json, locked in web/package-lock.json):
# Twilio's Voice SDK, which build_site.sh copies into the site. `npm ci` only when
# the installed copy is missing or differs from the lockfile's version.
SDK_VERSION=$(python3 -c 'import json; print(json.load(open("web/package-lock.json"))["packages"]["node_modules/@twilio/voice-sdk"]["version"])')
SDK_INSTALLED=$(python3 -c 'import json; print(json.load(open("web/node_modules/@twilio/voice-sdk/package.json"))["version"])' 2>/dev/null || true)
if [ "$SDK_INSTALLED" != "$SDK_VERSION" ] || [ ! -f web/node_modules/@twilio/voice-sdk/dist/twilio.min.js ]; then
  say "installing the site's npm packages in web/ (@twilio/voice-sdk $SDK_VERSION)"
  (cd web && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi

if [ "${1:-}" = "--test" ]; then
  if ! command -v chromium >/dev/null; then
    say "installing Debian's chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if ! command -v brotli >/dev/null; then
    say "installing Debian's brotli (the bundle size check)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq brotli >/dev/null
  fi
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    say "installing Playwright (no browser download) in end2end/"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  # The mail tests start server/tests/smtp_sink.py with this venv's Python.
  AIOSMTPD_VERSION=1.4.6
  if ! "$TOOLS/smtp-venv/bin/python" -c "import aiosmtpd" 2>/dev/null; then
    say "installing aiosmtpd $AIOSMTPD_VERSION into .tools/smtp-venv"
    python3 -m venv "$TOOLS/smtp-venv"
    "$TOOLS/smtp-venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
  fi
fi
say "tools ready"
