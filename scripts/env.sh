# Sourced by the scripts: the one set of build variables that plain cargo and
# cargo-leptos must share, or target/ gets rebuilt (TOOLCHAIN.md, "rebuild traps").
export LEPTOS_OUTPUT_NAME=phonebooth
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"
