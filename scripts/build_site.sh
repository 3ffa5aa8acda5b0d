#!/usr/bin/env bash
# Builds the site the server serves from target/site, without cargo-leptos:
#
#   target/site/pkg/phonebooth.js     wasm-bindgen's JS glue (--target web)
#   target/site/pkg/phonebooth.wasm   the hydrate build of `frontend`: the framework,
#                                     the router and the layout
#   target/site/pkg/split_*.wasm,     each lazy route's page and the code pages
#     chunk_*.wasm                    share, fetched when a page needs them
#   target/site/pkg/__wasm_split.*.js the loader of those modules, and
#     __wasm_split_manifest.json      which of them each route needs (the server
#                                     preloads them in the page's head)
#   target/site/pkg/phonebooth.css    style/main.css
#   target/site/pkg/twilio.min.js     Twilio's Voice SDK (npm, web/), loaded by
#                                     /phone.js on the dialer in Twilio mode only
#   target/site/<public/*>            static assets, copied as they are
#
#   scripts/build_site.sh             debug WASM (tests, development)
#   scripts/build_site.sh --release   `wasm-release` profile, then wasm-opt -Oz
#                                     (binaryen.js, scripts/wasm_opt_all.mjs)
#
# The tools come from scripts/setup.sh. The site is assembled in a temporary
# directory beside target/site (LEPTOS_SITE_ROOT, as for the server) and moved
# into place only when complete, so a failed build leaves the previous site as
# it was. cargo rebuilds only what changed; wasm-bindgen and wasm-opt are
# skipped when cargo's .wasm is one they have already processed.
# docs/building.md explains each step.
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SELF")/.."
# The same LEPTOS_OUTPUT_NAME and RUSTFLAGS as every other build, so this
# shares target/ with `cargo test`, clippy and the server build, and its
# erased component types match the server's (docs/building.md).
source scripts/env.sh

NAME=phonebooth                       # [[workspace.metadata.leptos]] name
TARGET_DIR=${CARGO_TARGET_DIR:-target}
SITE=${LEPTOS_SITE_ROOT:-target/site}     # the server's default
WASM_TARGET=wasm32-unknown-unknown

release=false
case "${1:-}" in
  "") ;;
  --release) release=true ;;
  -h|--help) sed -n '2,25p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: scripts/build_site.sh [--release]" >&2; exit 2 ;;
esac

say() { printf '\033[1m[site]\033[0m %s\n' "$*"; }
die() { printf '\033[1m[site]\033[0m error: %s\n' "$*" >&2; exit 1; }

command -v wasm-bindgen >/dev/null || die "wasm-bindgen not found: run scripts/setup.sh"
SPLIT_WASM="$PWD/.tools/bin/split-wasm"     # tools/split-wasm, installed by setup.sh
[ -x "$SPLIT_WASM" ] || die "split-wasm not found in .tools/bin: run scripts/setup.sh"
if $release; then
  # npm binaryen only (setup.sh puts it in .tools/); Debian's wasm-opt breaks hydration.
  BINARYEN="$PWD/.tools/node_modules/binaryen"
  [ -f "$BINARYEN/index.js" ] || die "binaryen (npm) not found in .tools/: run scripts/setup.sh"
  command -v node >/dev/null || die "node not found (binaryen runs on Node.js)"
fi

mkdir -p "$TARGET_DIR" "$(dirname "$SITE")"
# One site build at a time (cargo has its own lock; the site directory does not).
exec 9>"$TARGET_DIR/.build_site.lock"
flock 9

start=$SECONDS

# 1. The hydrate build of `frontend` (and `app` with `hydrate` only, through it).
#    The linker keeps its relocations (--emit-relocs) for split-wasm to follow
#    every reference when it cuts the module apart. The flag reaches only the
#    wasm32 artifacts: build scripts, macros and the server are built as before.
if $release; then
  profile=wasm-release
  set -- --profile wasm-release
else
  profile=debug
  set --
fi
RUSTFLAGS="$RUSTFLAGS -Clink-args=--emit-relocs" \
  cargo build -p frontend --lib --target "$WASM_TARGET" "$@"
wasm_in="$TARGET_DIR/$WASM_TARGET/$profile/frontend.wasm"
[ -f "$wasm_in" ] || die "cargo did not produce $wasm_in"

staging=$(mktemp -d "$(dirname "$SITE")/.site.XXXXXX")
cleanup() { rm -rf "$staging" "${old:-}" "${cache_new:-}"; }
trap cleanup EXIT
mkdir -p "$staging/pkg"

# JS and WASM are kept per profile in target/site-cache/<profile>/ with a stamp
# of what they were made from; when that still holds, they are reused instead
# of running split-wasm, wasm-bindgen and wasm-opt again (minutes on 2 cores).
cache="$TARGET_DIR/site-cache/$profile"
stamp="$(sha256sum < "$wasm_in") $(sha256sum < "$SELF") $(wasm-bindgen --version) $("$SPLIT_WASM" --version)"
$release && stamp="$stamp $(sha256sum < scripts/wasm_opt_all.mjs) $(node -p "require('$BINARYEN/package.json').version")"

if [ -f "$cache/stamp" ] && [ "$(cat "$cache/stamp")" = "$stamp" ] \
   && [ -f "$cache/pkg/$NAME.js" ] && [ -f "$cache/pkg/$NAME.wasm" ]; then
  say "JS and WASM unchanged since the last $profile build, reusing them"
  cp -a "$cache/pkg/." "$staging/pkg/"
else
  # 2. Split at the lazy routes (app::pages): the main module for wasm-bindgen,
  #    the routes' modules, their loader and the manifest straight into pkg/.
  say "split-wasm ($profile)"
  "$SPLIT_WASM" "$wasm_in" "$staging/pkg" "$staging/$NAME.main.wasm" "$NAME"

  # 3. JS glue and the main module. HydrationScripts (leptos 0.8) loads
  #    /pkg/<name>.js and, because LEPTOS_OUTPUT_NAME was set at compile time,
  #    /pkg/<name>.wasm without wasm-bindgen's `_bg` suffix: rename it as
  #    cargo-leptos does. The split modules call the main module's functions by
  #    their linker names, so wasm-bindgen keeps those exports as they are.
  say "wasm-bindgen ($profile)"
  wasm-bindgen --target web --no-typescript --keep-lld-exports --no-demangle \
    --out-dir "$staging/pkg" --out-name "$NAME" "$staging/$NAME.main.wasm"
  rm "$staging/$NAME.main.wasm"
  mv "$staging/pkg/${NAME}_bg.wasm" "$staging/pkg/$NAME.wasm"

  # 4. Release: shrink every module as `wasm-opt -Oz` with cargo-leptos's
  #    arguments would, and drop the producers and target-features sections
  #    (a few hundred bytes that each of the many small modules would carry).
  #    scripts/wasm_opt_all.mjs does it through binaryen's JavaScript API in
  #    one Node.js worker per core: npm's wasm-opt command is a Node.js program
  #    that takes about a second to start, once per module (docs/building.md).
  #    binaryen warns once per module about the name subsection split-wasm
  #    writes; names never ship (they are dropped), so that line is filtered.
  if $release; then
    say "wasm-opt -Oz ($(ls "$staging"/pkg/*.wasm | wc -l) modules, binaryen.js)"
    node scripts/wasm_opt_all.mjs "$BINARYEN" "$staging"/pkg/*.wasm 2>"$staging/wasm-opt.log" \
      || { grep -v "unknown name subsection" "$staging/wasm-opt.log" >&2; exit 1; }
    grep -v "unknown name subsection" "$staging/wasm-opt.log" >&2 || true
    rm "$staging/wasm-opt.log"
  fi

  # Refresh the cache: a complete copy first, its stamp last.
  mkdir -p "$(dirname "$cache")"
  cache_new=$(mktemp -d "$cache.new.XXXXXX")
  cp -a "$staging/pkg" "$cache_new/pkg"
  printf '%s\n' "$stamp" > "$cache_new/stamp"
  rm -rf "$cache"
  mv "$cache_new" "$cache"
fi

# 5. The stylesheet, where app::shell links it (/pkg/phonebooth.css). Plain CSS,
#    served as written (cargo-leptos would minify it; it is small and compressed anyway).
cp style/main.css "$staging/pkg/$NAME.css"

# 6. Twilio's Voice SDK from npm (scripts/setup.sh installs it into web/): the
#    minified browser bundle, never committed. public/phone.js loads it only on
#    the dialer and only in Twilio mode.
SDK="web/node_modules/@twilio/voice-sdk/dist/twilio.min.js"
[ -f "$SDK" ] || die "$SDK not found: run scripts/setup.sh"
cp "$SDK" "$staging/pkg/twilio.min.js"

# 7. Static assets (assets-dir = "public") at the site root.
if [ -d public ]; then
  cp -a public/. "$staging/"
fi

# Into place: the old site moves aside and the new one takes its name (two
# renames on one file system), then the old one is removed.
chmod 755 "$staging"
old=""
if [ -e "$SITE" ]; then
  old=$(mktemp -u "$(dirname "$SITE")/.site-old.XXXXXX")
  mv "$SITE" "$old"
fi
mv "$staging" "$SITE"

wasm_bytes=$(stat -c %s "$SITE/pkg/$NAME.wasm")
say "site ready in $SITE ($profile, $NAME.wasm $((wasm_bytes / 1024)) KiB, $((SECONDS - start)) s)"
