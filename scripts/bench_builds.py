#!/usr/bin/env python3
"""Two or more builds of the product side by side on the same signed-in
pages, for a before/after comparison that this machine's drift cannot bias.

Each build runs as its own server with its own database, seeded alike (an
account registered through the API, then bench_pages.py's seed: a grant and
CALLS charged calls), and every page is checked first (200, the account and
the seeded rows present). Then, round after round, each page gets a short
burst of load on each server in turn, who goes first rotating from round to
round, so whatever else the machine is doing falls on every build alike.
Measuring the builds one after the other (two bench_pages.py runs) cannot
promise that: on a shared 2-core machine the same build's figures move by a
third from one minute to the next. Name one build twice (a copy of the
binary) to see what the method cannot tell apart: up to 10% on a busy run.

    python3 scripts/bench_builds.py [NAME=]BINARY [NAME=]BINARY ... [--rounds 10]
        [--seconds 2] [--concurrency 8] [--calls 200] [--backends sqlite]
        [--pages /calls,/wallet,/dialer,/account] [--keep]

Prints per page and build the median CPU milliseconds per request (user +
system, every thread, from /proc; lowest and highest in brackets), the median
requests/s, and the median CPU against the first build's. CPU per request is
the figure to compare: it does not depend on how busy the machine is the way
req/s do. The load comes from `wrk` (bench_pages.py's client; Python threads
without it). Standard library only; helpers in bench_lib.py and bench_pages.py.
"""
import contextlib, os, statistics, sys

import bench_lib
import bench_pages

DEFAULT_PAGES = ("/calls", "/wallet", "/dialer", "/account")


def parse_build(text):
    """`NAME=PATH`, or a bare path named after its folder (`target/release`)."""
    name, _, path = text.rpartition("=")
    return (name or os.path.basename(os.path.dirname(os.path.abspath(path))), path)


def bench(backend, args):
    problems = []
    with contextlib.ExitStack() as stack:
        servers = []
        for name, path in args.builds:
            server = stack.enter_context(bench_lib.Server(backend, keep=args.keep, binary_path=path))
            account = bench_pages.seeded_account(server, args.calls)
            for page in args.pages:
                problem = bench_pages.check_page(name, server.port, page, account.cookie,
                                                 bench_pages.expected_content(page, args.calls))
                if problem:
                    problems.append(problem)
            servers.append((name, server, account))
        if problems:
            for problem in problems:
                bench_lib.report(backend, "CHECK FAILED", problem)
            for _, server, _ in servers:
                server.failed = True
            return False

        results = {(name, page): [] for name, _, _ in servers for page in args.pages}
        for name, server, account in servers:   # warm-up, not counted
            for page in args.pages:
                bench_pages.load(server.port, page, account.cookie, 1, args.concurrency)
        for round_ in range(args.rounds):
            for page in args.pages:
                turn = round_ % len(servers)   # who goes first rotates: no build keeps a place
                for name, server, account in servers[turn:] + servers[:turn]:
                    result = bench_pages.measured_load(server.proc.pid, server.port, page, account.cookie,
                                                       args.seconds, args.concurrency)
                    if result.errors:
                        problems.append(f"{name} {page}: {result.errors} failed requests")
                    results[(name, page)].append(result)

        first = servers[0][0]
        for page in args.pages:
            base = statistics.median(r.cpu_ms for r in results[(first, page)])
            parts = []
            for name, _, _ in servers:
                cpu = [r.cpu_ms for r in results[(name, page)]]
                rate = statistics.median(r.per_second for r in results[(name, page)])
                against = "" if name == first else f", {statistics.median(cpu) / base:.2f}× {first}"
                parts.append(f"{name} {statistics.median(cpu):.2f} CPU ms ({min(cpu):.2f}–{max(cpu):.2f}) "
                             f"{rate:5.0f} req/s{against}")
            bench_lib.report(backend, page, " | ".join(parts))
    for problem in problems:
        bench_lib.report(backend, "CHECK FAILED", problem)
    return not problems


def main():
    parser = bench_lib.arg_parser(__doc__, backends="sqlite")
    parser.add_argument("builds", nargs="+", metavar="[NAME=]BINARY", help="phonebooth binaries, two or more")
    parser.add_argument("--rounds", type=int, default=10, help="bursts per page and build")
    parser.add_argument("--seconds", type=int, default=2, help="length of one burst")
    parser.add_argument("--calls", type=int, default=200, help="calls seeded into each organization")
    parser.add_argument("--pages", default=",".join(DEFAULT_PAGES), help="comma-separated signed-in pages")
    args = parser.parse_args()
    args.builds = [parse_build(text) for text in args.builds]
    args.pages = [page for page in args.pages.split(",") if page]
    if len(args.builds) < 2:
        parser.error("give two builds or more to compare")
    if len({name for name, _ in args.builds}) < len(args.builds):
        parser.error("two builds have the same name: name them, NAME=BINARY")
    missing = [path for _, path in args.builds if not os.path.exists(path)]
    if missing:
        parser.error(f"no such binary: {', '.join(missing)}")
    if not args.pages or args.rounds < 1 or args.seconds < 1:
        parser.error("--pages, --rounds and --seconds need at least one")
    for name, path in args.builds:
        print(f"{name}: {path}", flush=True)
    results = [bench(backend, args) for backend in args.backends.split(",")]
    print("all checks passed" if all(results) else "SOME CHECKS FAILED")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
