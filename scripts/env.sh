# Sourced by the scripts: the one set of build variables every cargo command
# shares, or target/ gets rebuilt (docs/building.md, "Rebuild traps").
# LEPTOS_OUTPUT_NAME equals `name` in [[workspace.metadata.leptos]], so
# `cargo leptos watch` shares target/ with the scripts too.
export LEPTOS_OUTPUT_NAME=phonebooth
# Leptos erases component types (`--cfg erase_components`): each component's
# view compiles to one boxed type instead of its own nest of generics, which
# took a third off the hydrate bundle (docs/performance.md). Both sides must
# agree, or hydration finds markup it does not expect and panics, so it is
# set for every build, the server's and its tests' too.
export RUSTFLAGS="--cfg erase_components"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/.tools/node_modules/.bin:$PATH"
