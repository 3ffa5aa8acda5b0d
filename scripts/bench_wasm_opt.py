#!/usr/bin/env python3
"""The release site's optimisation step two ways, side by side on the same
modules: npm's `wasm-opt` command once per module (one process per core, as
scripts/build_site.sh ran it before) and scripts/wasm_opt_all.mjs (binaryen's
JavaScript API, one Node.js worker per core, as it runs now). Checks that the
two write the same bytes for every module and prints both times and their
ratio.

    source scripts/env.sh && bash scripts/build_site.sh --release   # the input
    python3 scripts/bench_wasm_opt.py [--repeat 1]

The modules are made afresh from cargo's release WASM
(target/wasm32-unknown-unknown/wasm-release/frontend.wasm) with split-wasm and
wasm-bindgen, exactly as build_site.sh makes them, in a temporary directory.
Exits non-zero if any module differs.
"""
import argparse, concurrent.futures, filecmp, glob, os, shutil, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, ".tools")
WASM_OPT = os.path.join(TOOLS, "node_modules", ".bin", "wasm-opt")
BINARYEN = os.path.join(TOOLS, "node_modules", "binaryen")
WASM_IN = os.path.join(ROOT, "target", "wasm32-unknown-unknown", "wasm-release", "frontend.wasm")
# The arguments build_site.sh gave the command, one module at a time.
CLI_ARGS = ["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int",
            "--strip-producers", "--strip-target-features"]


def unoptimised_modules(work):
    """split-wasm, then wasm-bindgen on the main module, as build_site.sh does."""
    pkg = os.path.join(work, "raw")
    os.makedirs(pkg)
    main = os.path.join(work, "phonebooth.main.wasm")
    subprocess.run([os.path.join(TOOLS, "bin", "split-wasm"), WASM_IN, pkg, main, "phonebooth"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["wasm-bindgen", "--target", "web", "--no-typescript", "--keep-lld-exports",
                    "--no-demangle", "--out-dir", pkg, "--out-name", "phonebooth", main], check=True)
    os.rename(os.path.join(pkg, "phonebooth_bg.wasm"), os.path.join(pkg, "phonebooth.wasm"))
    return pkg


def fresh_copy(raw, name, work):
    out = os.path.join(work, name)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(raw, out)
    return sorted(glob.glob(os.path.join(out, "*.wasm")), key=os.path.getsize, reverse=True)


def one_process_per_module(files):
    def run(path):
        subprocess.run([WASM_OPT, *CLI_ARGS, path, "-o", path + ".opt"], check=True,
                       stderr=subprocess.DEVNULL)
        os.replace(path + ".opt", path)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(run, files))


def one_process(files):
    subprocess.run(["node", os.path.join(ROOT, "scripts", "wasm_opt_all.mjs"), BINARYEN, *files],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def timed(label, optimise, raw, work):
    files = fresh_copy(raw, label, work)
    start = time.monotonic()
    optimise(files)
    return time.monotonic() - start, os.path.join(work, label)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, alternating")
    args = parser.parse_args()
    for path, hint in ((WASM_IN, "bash scripts/build_site.sh --release"),
                       (WASM_OPT, "bash scripts/setup.sh"), (BINARYEN, "bash scripts/setup.sh")):
        if not os.path.exists(path):
            sys.exit(f"{path} missing: run {hint}")
    with tempfile.TemporaryDirectory() as work:
        raw = unoptimised_modules(work)
        raw_files = glob.glob(os.path.join(raw, "*.wasm"))
        names = sorted(os.path.basename(p) for p in raw_files)
        print(f"{len(names)} modules, {sum(map(os.path.getsize, raw_files)):,} B "
              f"unoptimised; {os.cpu_count()} cores")
        cli_times, api_times = [], []
        for _ in range(args.repeat):
            seconds, cli_dir = timed("command", one_process_per_module, raw, work)
            cli_times.append(seconds)
            seconds, api_dir = timed("api", one_process, raw, work)
            api_times.append(seconds)
        _, mismatch, errors = filecmp.cmpfiles(cli_dir, api_dir, names, shallow=False)
        optimised = sum(os.path.getsize(os.path.join(api_dir, n)) for n in names)
        cli, api = min(cli_times), min(api_times)
        print(f"wasm-opt command, a process per module: {', '.join(f'{t:.1f}' for t in cli_times)} s")
        print(f"wasm_opt_all.mjs, one process:           {', '.join(f'{t:.1f}' for t in api_times)} s")
        print(f"ratio (best of each): {api / cli:.2f}; optimised {optimised:,} B; "
              f"identical output: {len(names) - len(mismatch) - len(errors)} of {len(names)} modules")
        if mismatch or errors:
            sys.exit(f"modules differ: {', '.join(mismatch + errors)}")


if __name__ == "__main__":
    main()
