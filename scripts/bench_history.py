#!/usr/bin/env python3
"""A long call history: /calls with 100,000 calls in one organization, on
SQLite and PostgreSQL.

Per database it starts the built `phonebooth`, registers an account, writes
CALLS calls into its organization straight into the database (as
bench_pages.py seeds them: two calls in every second, every fifth busy) and
50 into a second organization at the same times, then times signed-in GETs
of three pages, each REPEAT times one after another (no concurrency: the time
one person waits):

- the first page, `/calls`;
- the last page: the page its "Oldest" link leads to (`/calls?page=oldest`;
  a build with numbered pages, `/calls?page=<last>`);
- a filtered search: answered calls to numbers containing 7183 100 in March 2024.

Checks: each answers 200 with 25 rows (the search: with its own total),
none of the second organization's calls. Prints the median and the slowest
time of each (the goal is under 50 ms), then the query plans of the
history's statements on that database (EXPLAIN QUERY PLAN on SQLite,
EXPLAIN ANALYZE on PostgreSQL), as app/src/server/db/call_history.rs writes
them for the first page.

    python3 scripts/bench_history.py [--calls 100000] [--repeat 20] [--backends sqlite,postgres] [--keep]

Use a release build (`cargo build --release -p server --bin phonebooth`);
PHONEBOOTH_BINARY=<path> times another build on the same data shape.
Standard library only, plus psql; helpers in scripts/bench_lib.py.
"""
import re, statistics, time

import bench_lib
from bench_pages import get, seed_calls_sql

# The history's middle: the calls' seconds, as bench_pages.seed_calls_sql writes them.
MIDDLE = 1709251200 + (50_000 // 2) * 60
SEARCH = "/calls?from=2024-03-01&to=2024-03-31&status=answered&number=7183%20100"


def timed(port, path, cookie, repeat):
    times, body, status = [], "", 0
    for _ in range(repeat):
        began = time.perf_counter()
        status, body = get(port, path, cookie)
        times.append((time.perf_counter() - began) * 1000)
    return status, body, times


def plans(db, backend, org_id):
    """The history statements' plans for this organization, unfiltered and searched."""
    org = bench_lib.sql_literal(org_id)
    statements = {
        "count (up to 10,001)": f"select count(*) from (select 1 from call where call.org_id = {org} "
                                f"and call.created_at >= -9223372036854775808 "
                                f"and call.created_at < 9223372036854775807 limit 10001) counted",
        "oldest page ids": f"select page.call_id from call page where page.org_id = {org} "
                           f"and page.created_at >= -9223372036854775808 and page.created_at < 9223372036854775807 "
                           f"order by page.created_at asc, page.call_id asc limit 26",
        "older page ids": f"select page.call_id from call page where page.org_id = {org} "
                          f"and page.created_at >= -9223372036854775808 and page.created_at < {MIDDLE + 1} "
                          f"and (page.created_at, page.call_id) < ({MIDDLE}, 'call_bench0050000') "
                          f"order by page.created_at desc, page.call_id desc limit 26",
        "search count": f"select count(*) from (select 1 from call where call.org_id = {org} "
                        f"and call.created_at >= 1709251200 "
                        f"and call.created_at < 1711929600 and call.status = 'completed' "
                        f"and coalesce(call.duration_secs, 0) >= 1 and call.to_number like '%7183100%' "
                        f"limit 10001) counted",
        "search page ids": f"select page.call_id from call page where page.org_id = {org} "
                           f"and page.created_at >= 1709251200 "
                           f"and page.created_at < 1711929600 and page.status = 'completed' "
                           f"and coalesce(page.duration_secs, 0) >= 1 and page.to_number like '%7183100%' "
                           f"order by page.created_at desc, page.call_id desc limit 26",
        "callers": f"with recursive caller (user_id) as (select min(user_id) from call where org_id = {org} "
                   f"union all select (select min(call.user_id) from call where call.org_id = {org} "
                   f"and call.user_id > caller.user_id) from caller where caller.user_id is not null) "
                   f"select user_id from caller",
    }
    for name, sql in statements.items():
        if backend == "sqlite":
            rows = db.rows("explain query plan " + sql)
            lines = [str(row[-1]) for row in rows]
        else:
            rows = db.rows("explain (analyze, costs off) " + sql)
            lines = [str(row[0]) for row in rows]
        print(f"  plan of {name}:", flush=True)
        for line in lines:
            print(f"    {line}", flush=True)


def bench(backend, args):
    problems = []
    with bench_lib.Server(backend, keep=args.keep) as server:
        account = bench_lib.Session(server.port, name="Bench Person")
        other = bench_lib.Session(server.port, name="Other Person", email="other@example.com")
        user = server.db.value("select user_id from app_user where email = 'bench@example.com'")
        other_user = server.db.value("select user_id from app_user where email = 'other@example.com'")
        began = time.perf_counter()
        server.db.transaction([
            seed_calls_sql(bench_lib.sql_literal(account.org_id), bench_lib.sql_literal(user), args.calls),
            # The other organization's calls share ids' shape and times, never its pages.
            seed_calls_sql(bench_lib.sql_literal(other.org_id), bench_lib.sql_literal(other_user), 50,
                           first=args.calls + 1).replace("'call_bench'", "'call_other'"),
        ])
        if backend == "postgres":
            server.db.rows("analyze call")
        bench_lib.report(backend, "seeded", f"{args.calls} calls in {time.perf_counter() - began:.1f} s")
        # The oldest page as the build links it: by key, or by number.
        _, first_page = get(server.port, "/calls", account.cookie)
        last = "oldest" if 'href="/calls?page=oldest"' in first_page else -(-args.calls // 25)
        for name, path, rows in (("first page", "/calls", 25), ("last page", f"/calls?page={last}", None),
                                 ("filtered search", SEARCH, None)):
            get(server.port, path, account.cookie)  # warm-up
            status, body, times = timed(server.port, path, account.cookie, args.repeat)
            body = body.replace("<!>", "")  # hydration markers after text (erased component types)
            listed = body.count('data-testid="call-row"')
            if status != 200:
                problems.append(f"{name}: {status}")
            elif rows and listed != rows:
                problems.append(f"{name}: {listed} rows, expected {rows}")
            elif listed == 0:
                problems.append(f"{name}: no rows")
            if "call_other" in body:
                problems.append(f"{name}: another organization's call is listed")
            total = re.search(r'<p class="muted">((?:More than )?[\d,]+) calls?</p>', body)
            bench_lib.report(backend, name,
                             f"median {statistics.median(times):6.1f} ms, slowest {max(times):6.1f} ms "
                             f"({listed} rows of {total.group(1) if total else '?'})")
        plans(server.db, backend, account.org_id)
        for problem in problems:
            bench_lib.report(backend, "CHECK FAILED", problem)
        server.failed = bool(problems)
        return not problems


def main():
    parser = bench_lib.arg_parser(__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    bench_lib.run_backends(args, bench)


if __name__ == "__main__":
    main()
