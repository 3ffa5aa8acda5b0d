#!/usr/bin/env python3
"""Signed-in pages against their floor: /calls, /wallet and /dialer as
Phonebooth serves them, side by side with a bare axum + sqlx server running
the same queries (bench/, the bare_pages binary), on SQLite and PostgreSQL.

Per database it starts the built `phonebooth`, registers an account through
the API, seeds its organization straight into the database (a grant, CALLS
calls with their charges in the ledger, so /calls shows a full page of 25 and
/wallet a full history page), then starts the bare peer on the same database
with the same session secret, and for each page measures, with the same
account's cookie and the same load: the product, then the peer. Each answer
is checked first (200, the seeded rows present) so a redirect to the login
page can never be measured by mistake. While each page is under load the
product's resident memory is sampled (VmRSS every 100 ms); its high-water
mark (VmHWM) is read once before the load, after registering and seeding
(one password hash holds 19 MiB while it runs), then started afresh, so the
peak printed last is the load's own.

    python3 scripts/bench_pages.py [--seconds 10] [--concurrency 8] [--calls 200]
        [--backends sqlite,postgres] [--pages /calls,/wallet,/dialer] [--keep]

The load comes from `wrk` (Debian's package: `apt-get install wrk`), one
thread and C keep-alive connections; without it, from Python threads (a
weaker client: the ratios still hold, the absolute figures are lower).
Figures worth publishing come from release builds of both:

    source scripts/env.sh
    cargo build --release -p server --bin phonebooth && cargo build --release -p bench

Prints per page and database: requests/s and mean latency of each, and the
ratio product / peer (the goal is at least 0.5); then what one request cost
each server, CPU milliseconds (user + system, all threads, from /proc) and
context switches (thread hand-offs, of the threads alive at the end), which
hold still when the machine is busy and the req/s do not. Exits non-zero if a check
fails. Standard library only, plus psql; helpers in scripts/bench_lib.py.
"""
import http.client, os, re, shutil, subprocess, sys, threading, time

import bench_lib

PAGES = ("/calls", "/wallet", "/dialer")
MARCH_1 = 1_709_251_200


def peer_binary():
    """The bare peer next to the product binary the benchmark runs (release or debug)."""
    source = bench_lib._snapshot.get("source") or bench_lib.built_binary()
    path = os.path.join(os.path.dirname(source), "bare_pages")
    if os.environ.get("BARE_PAGES_BINARY"):
        path = os.environ["BARE_PAGES_BINARY"]
    if not os.path.exists(path):
        sys.exit(f"build the peer first: cargo build --release -p bench ({path} missing)")
    return path


def seeded_account(server, calls):
    """The benchmark's account ("Bench Person"), registered through the API on
    `server`, its organization seeded with `calls` calls (`seed`)."""
    account = bench_lib.Session(server.port, name="Bench Person")
    user_id = server.db.value("select user_id from app_user where email = 'bench@example.com'")
    seed(server.db, account.org_id, user_id, calls)
    return account


def seed(db, org_id, user_id, calls):
    """`calls` ended calls (60/60 at $0.013, some busy, pairs in the same
    second), each charged in the ledger, and a $1,000 grant before them."""
    bench_lib.Database.grant(db, org_id, 1_000 * bench_lib.MICROS_PER_DOLLAR)
    org, user = bench_lib.sql_literal(org_id), bench_lib.sql_literal(user_id)
    db.transaction([
        seed_calls_sql(org, user, calls),
        # One charge per answered call, newest balance last.
        f"""insert into ledger_entry (ledger_entry_id, org_id, kind, amount, balance_after, actor, description,
                idempotency_key, created_at)
            select 'le_' || call_id, org_id, 'call_charge', -cost,
                   cast(1000000000 as bigint) - 26000 * cast(substr(call_id, 11) as bigint), 'system', 'Call to ' || to_number,
                   'bench:' || call_id || ':charge', created_at + 300
              from call where org_id = {org} and cost > 0""",
        f"update call set ledger_entry_id = 'le_' || call_id where org_id = {org} and cost > 0",
        f"""update wallet set balance = (select sum(amount) from ledger_entry where org_id = {org})
             where org_id = {org}""",
    ])


def seed_calls_sql(org, user, calls, first=1):
    """`calls` calls numbered from `first`: every fifth busy (no talk time,
    free), the rest completed with 61 s of talk billed as 120 s ($0.026);
    two calls share each second, so ties are ordered by id."""
    return f"""insert into call (call_id, org_id, user_id, client_key, to_number, rate_prefix, country_code,
            country_name, description, price_per_minute, connection_fee, initial_increment,
            subsequent_increment, max_duration_secs, carrier, status, end_reason, created_at, answered_at,
            ended_at, duration_secs, billed_seconds, cost, updated_at_ms)
        with recursive n(i) as (select {first} union all select i + 1 from n where i < {first + calls - 1})
        select 'call_bench' || substr(cast(10000000 + i as text), 2), {org}, {user}, 'key_' || i,
               '+44207183' || (1000 + i % 9000), '44', 'GB', 'United Kingdom', 'Landline', 13000, 0, 60, 60, 3600,
               'simulated',
               case when i % 5 = 0 then 'busy' else 'completed' end,
               case when i % 5 = 0 then 'busy' else 'hung_up' end,
               {MARCH_1} + (i / 2) * 60,
               case when i % 5 = 0 then null else {MARCH_1} + (i / 2) * 60 + 5 end,
               {MARCH_1} + (i / 2) * 60 + 70,
               case when i % 5 = 0 then 0 else 61 end,
               case when i % 5 = 0 then 0 else 120 end,
               case when i % 5 = 0 then 0 else 26000 end,
               cast({MARCH_1} + (i / 2) * 60 + 70 as bigint) * 1000
          from n"""


def get(port, path, cookie):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"cookie": cookie})
    response = conn.getresponse()
    body = response.read().decode(errors="replace")
    conn.close()
    return response.status, body


def expected_content(path, calls):
    """What a signed-in page must show once `seed` has run: the account's name
    (in the layout, so every signed-in page has it) and the seeded rows."""
    return {"/calls": ["Bench Person", f"{calls} calls", "+44 20 7183"],
            "/wallet": ["Bench Person", "Call to +44207183"],
            "/dialer": ["Bench Person", "United Kingdom"]}.get(path, ["Bench Person"])


def check_page(name, port, path, cookie, must_contain):
    """None when the page answers 200 with the seeded content, else the problem."""
    status, body = get(port, path, cookie)
    if status != 200:
        return f"{name} {path} answered {status}: {body[:200]!r}"
    missing = [text for text in must_contain if text not in body]
    return f"{name} {path} lacks {missing}" if missing else None


class Result:
    def __init__(self, per_second, mean_ms, errors, count):
        self.per_second, self.mean_ms, self.errors, self.count = per_second, mean_ms, errors, count
        self.cpu_ms = self.switches = None   # per request, from the server's counters


def server_counters(pid):
    """CPU seconds (user + system, every thread) and context switches (the
    threads alive now) of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    switches = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as status:
                switches += sum(int(line.split()[1]) for line in status if "ctxt_switches" in line)
        except OSError:
            pass   # the thread ended meanwhile
    return cpu, switches


def measured_load(pid, port, path, cookie, seconds, concurrency):
    """`load`, plus what each request cost the server: CPU milliseconds and
    context switches (thread hand-offs), the figures that do not depend on
    how busy the machine is."""
    cpu_before, switches_before = server_counters(pid)
    result = load(port, path, cookie, seconds, concurrency)
    cpu_after, switches_after = server_counters(pid)
    if result.count:
        result.cpu_ms = 1000 * (cpu_after - cpu_before) / result.count
        result.switches = (switches_after - switches_before) / result.count
    return result


def load(port, path, cookie, seconds, concurrency):
    """Requests/s and mean latency of GET `path` for `seconds`."""
    if shutil.which("wrk"):
        out = subprocess.run(
            ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, int(seconds))}s", "-H", f"Cookie: {cookie}",
             f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        latency = re.search(r"Latency\s+([\d.]+)(us|ms|s)\b", out)
        mean_ms = float(latency.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[latency.group(2)]
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errors = re.search(r"Socket errors:.*", out)
        count = int(re.search(r"(\d+) requests in", out).group(1))
        return Result(rate, mean_ms, (int(bad.group(1)) if bad else 0) + (1 if errors else 0), count)
    return python_load(port, path, cookie, seconds, concurrency)


def python_load(port, path, cookie, seconds, concurrency):
    """The fallback client: keep-alive connections from threads, for `seconds`."""
    stop, lock, latencies, errors = time.perf_counter() + seconds, threading.Lock(), [], [0]

    def worker():
        conn, mine, bad = http.client.HTTPConnection("127.0.0.1", port, timeout=60), [], 0
        while time.perf_counter() < stop:
            began = time.perf_counter()
            conn.request("GET", path, headers={"cookie": cookie})
            response = conn.getresponse(); response.read()
            mine.append(time.perf_counter() - began)
            bad += response.status != 200
        conn.close()
        with lock:
            latencies.extend(mine); errors[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    elapsed = time.perf_counter() - began
    return Result(len(latencies) / elapsed, 1000 * sum(latencies) / max(1, len(latencies)), errors[0],
                  len(latencies))


class MemorySampler(threading.Thread):
    """The largest VmRSS of a process seen while it runs, sampled every 100 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.running = pid, 0, True

    def run(self):
        while self.running:
            self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmRSS") or 0)
            time.sleep(0.1)


def restart_peak(pid):
    """Starts the process's VmHWM afresh from its current RSS (Linux's
    clear_refs, value 5); False where that is not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def bench(backend, args):
    problems = []
    with bench_lib.Server(backend, keep=args.keep) as server:
        account = seeded_account(server, args.calls)
        peer_port = bench_lib.free_port()
        env = dict(os.environ, DATABASE_URL=server.database_url, SESSION_SECRET=bench_lib.SESSION_SECRET,
                   BIND_ADDR=f"127.0.0.1:{peer_port}")
        peer = subprocess.Popen([peer_binary()], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for _ in range(100):
                try:
                    if get(peer_port, "/healthz", "")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                sys.exit("the bare peer did not start")
            for path in PAGES:
                for name, port in (("product", server.port), ("peer", peer_port)):
                    problem = check_page(name, port, path, account.cookie, expected_content(path, args.calls))
                    if problem:
                        problems.append(problem)
            if problems:
                for problem in problems:
                    bench_lib.report(backend, "CHECK FAILED", problem)
                server.failed = True
                return False
            rss_idle, rss_under_load = status_kb(server.proc.pid, "VmRSS"), {}
            hwm_before = status_kb(server.proc.pid, "VmHWM")
            peak_restarted = restart_peak(server.proc.pid)
            for path in args.pages:
                results = {}
                for name, port, pid in (("product", server.port, server.proc.pid), ("peer", peer_port, peer.pid)):
                    load(port, path, account.cookie, 1, args.concurrency)  # warm-up, not counted
                    sampler = MemorySampler(pid) if name == "product" else None
                    if sampler:
                        sampler.start()
                    results[name] = result = measured_load(pid, port, path, account.cookie, args.seconds,
                                                           args.concurrency)
                    if sampler:
                        sampler.running = False; sampler.join()
                        rss_under_load[path] = sampler.peak_kb
                    if result.errors:
                        problems.append(f"{name} {path}: {result.errors} failed requests")
                product, bare = results["product"], results["peer"]
                ratio = product.per_second / bare.per_second if bare.per_second else float("nan")
                bench_lib.report(backend, path,
                                 f"product {product.per_second:7.0f} req/s {product.mean_ms:6.1f} ms | "
                                 f"bare peer {bare.per_second:7.0f} req/s {bare.mean_ms:6.1f} ms | "
                                 f"ratio {ratio:4.2f}")
                bench_lib.report(backend, f"{path} per request",
                                 f"product {product.cpu_ms:5.2f} CPU ms {product.switches:5.1f} switches | "
                                 f"bare peer {bare.cpu_ms:5.2f} CPU ms {bare.switches:5.1f} switches")
            hwm = status_kb(server.proc.pid, "VmHWM")
            under_load = ", ".join(f"{path} {kb / 1024:.0f}" for path, kb in rss_under_load.items())
            peaks = (f"peak before the load {hwm_before / 1024:.0f} MB, peak under load {hwm / 1024:.0f} MB"
                     if peak_restarted else f"peak {hwm / 1024:.0f} MB (not restarted: before the load too)")
            bench_lib.report(backend, "product RSS",
                             f"idle {rss_idle / 1024:.0f} MB, under load {under_load} MB; {peaks}")
        finally:
            peer.terminate(); peer.wait()
        for problem in problems:
            bench_lib.report(backend, "CHECK FAILED", problem)
        server.failed = server.failed or bool(problems)
        return not problems


def main():
    parser = bench_lib.arg_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=10, help="load per page and server")
    parser.add_argument("--calls", type=int, default=200, help="calls seeded into the organization")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated, of " + ", ".join(PAGES))
    args = parser.parse_args()
    args.pages = [page for page in args.pages.split(",") if page]
    unknown = [page for page in args.pages if page not in PAGES]
    if unknown or not args.pages:
        parser.error(f"--pages: {', '.join(unknown) or 'none given'}; choose from {', '.join(PAGES)}")
    if not shutil.which("wrk"):
        print("wrk not found (apt-get install wrk): using the Python client", flush=True)
    bench_lib.run_backends(args, bench)


if __name__ == "__main__":
    main()
