#!/usr/bin/env bash
# README command 1: builds Phonebooth (release) and runs it with nothing
# configured: SQLite in ./data, listening on 127.0.0.1:3000.
# Extra arguments go to the binary: `scripts/run.sh migrate`, `scripts/run.sh admin grant you@example.com`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
# The site (size-optimised WASM, JS, CSS, assets) into target/site, then the server.
bash scripts/build_site.sh --release
cargo build --release -p server --bin phonebooth
exec target/release/phonebooth "$@"
