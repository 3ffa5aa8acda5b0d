#!/usr/bin/env python3
"""What a browser downloads to make each page interactive, against a budget.

The release site is split at its lazy routes (scripts/build_site.sh): every
page needs the main module (the framework, the router and the layout), its
JS glue and the split loader, plus the modules the split manifest lists for
its route. Each file is compressed on its own with brotli -q 11 (what a
server or CDN precompresses with), since that is how each is fetched. Prints
the main module and every route's first load; exits 1 when the largest first
load is over the budget, so a dependency that doubles a page fails the test
command instead of shipping. docs/performance.md says what the pages are made
of and what the budget is.

    scripts/check_bundle_size.py [SITE_ROOT]    default: $LEPTOS_SITE_ROOT or target/site

BUNDLE_BUDGET_BYTES overrides the budget. Needs Debian's `brotli`.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# The largest first load (the dialer) measured BUDGET_BASE bytes when the site
# was split at its routes (December 2026); the budget leaves about 2.7% for
# ordinary growth. It is a ratchet, not the 250 KB goal: docs/performance.md
# says what stands in the way.
BUDGET_BASE = 423_791
BUDGET = int(os.environ.get("BUNDLE_BUDGET_BYTES", BUDGET_BASE * 1027 // 1000))

NAME = "phonebooth"
LOADER = "__wasm_split.______________________.js"
MANIFEST = "__wasm_split_manifest.json"


def brotli_size(path: Path) -> int:
    if not path.is_file():
        sys.exit(f"missing {path}: build the release site first (scripts/build_site.sh --release)")
    out = subprocess.run(["brotli", "-q", "11", "-c", str(path)], check=True, capture_output=True)
    return len(out.stdout)


def route_name(split_key: str) -> str:
    """`__call_detail_view_<hash>` (app::pages::CallDetail's split point) -> `call_detail`."""
    return re.sub(r"^_*(.*?)_view_\d+$", r"\1", split_key)


def main() -> int:
    if shutil.which("brotli") is None:
        print("brotli not found: apt-get install brotli", file=sys.stderr)
        return 2
    site = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LEPTOS_SITE_ROOT", "target/site"))
    pkg = site / "pkg"
    manifest = json.loads((pkg / MANIFEST).read_text()) if (pkg / MANIFEST).is_file() else {}

    main_parts = {
        "WASM": brotli_size(pkg / f"{NAME}.wasm"),
        "JS": brotli_size(pkg / f"{NAME}.js"),
    }
    if manifest:
        main_parts["split loader"] = brotli_size(pkg / LOADER)
    main_total = sum(main_parts.values())
    raw_wasm = (pkg / f"{NAME}.wasm").stat().st_size
    parts = " + ".join(f"{what} {size:,} B" for what, size in main_parts.items())
    print(f"main module (brotli -q 11): {parts} = {main_total:,} B ({raw_wasm:,} B raw WASM)")

    sizes: dict[str, int] = {}
    loads = {route_name(key): modules for key, modules in manifest.items()} or {"(not split)": []}
    first_loads = {}
    for route, modules in sorted(loads.items()):
        own = 0
        for module in modules:
            if module not in sizes:
                sizes[module] = brotli_size(pkg / f"{module}.wasm")
            own += sizes[module]
        first_loads[route] = main_total + own
        print(f"  {route:18} {len(modules):3} modules {own:9,} B   first load {main_total + own:9,} B")
    print(f"every split module: {len(sizes)} files, {sum(sizes.values()):,} B")

    route, largest = max(first_loads.items(), key=lambda item: item[1])
    print(f"largest first load: {route}, {largest:,} B; budget {BUDGET:,} B")
    if largest > BUDGET:
        print(f"the {route} page's first load is over its budget by {largest - BUDGET:,} B "
              "(docs/performance.md)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
