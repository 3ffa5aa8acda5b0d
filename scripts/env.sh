# Sourced by the scripts: the one set of build variables every cargo command
# shares, or target/ gets rebuilt (docs/building.md, "Rebuild traps").
# LEPTOS_OUTPUT_NAME equals `name` in [[workspace.metadata.leptos]], so
# `cargo leptos watch` shares target/ with the scripts too. No RUSTFLAGS here.
export LEPTOS_OUTPUT_NAME=phonebooth
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"
