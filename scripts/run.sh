#!/usr/bin/env bash
# README command 1: builds Phonebooth (release) and runs it with nothing
# configured: SQLite in ./data, listening on 127.0.0.1:3000.
# Extra arguments go to the binary: `scripts/run.sh migrate`, `scripts/run.sh admin grant you@example.com`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo leptos build --release
exec target/release/phonebooth "$@"
