#!/usr/bin/env python3
"""Benchmark POST /webhooks/stripe on SQLite and PostgreSQL.

Starts the built `phonebooth` binary (release if built, else debug) once per
database with a known webhook secret, registers an account through the API,
then posts N signed `checkout.session.completed` events (each a distinct paid
credit purchase) from C concurrent keep-alive connections. Reports events/s
and p50/p99/max latency, and checks that the wallet holds exactly N purchases.

    python3 scripts/bench_stripe_webhook.py [--events 2000] [--concurrency 8] [--backends sqlite,postgres]

Needs only the Python standard library (and psql for the PostgreSQL check).
"""
import argparse, hashlib, hmac, http.client, json, os, socket, sqlite3, subprocess, sys, tempfile, threading, time, urllib.request

SECRET = "whsec_benchmark_secret_0123456789abcdef"
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
CENTS = 1000  # $10 per purchase


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def binary():
    for profile in ("release", "debug"):
        path = os.path.join("target", profile, "phonebooth")
        if os.path.exists(path):
            return path
    sys.exit("build first: scripts/run.sh (release) or cargo leptos build (debug)")


def start(backend, data_dir):
    port = free_port()
    env = dict(os.environ, DATA_DIR=data_dir, BIND_ADDR=f"127.0.0.1:{port}", STRIPE_WEBHOOK_SECRET=SECRET,
               SESSION_SECRET="benchmark-session-secret-0123456789", RUST_LOG="warn")
    if backend == "postgres":
        name = f"pb_bench_{int(time.time())}_{os.getpid()}"
        subprocess.run(["psql", PG_ADMIN, "-qc", f"create database {name}"], check=True)
        env["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    else:
        env["DATABASE_URL"] = f"sqlite://{data_dir}/bench.db?mode=rwc"
    log = open(os.path.join(data_dir, "server.log"), "w")
    proc = subprocess.Popen([binary()], env=env, stdout=log, stderr=log)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return proc, port, env["DATABASE_URL"]
        except OSError:
            time.sleep(0.1)
    proc.kill(); sys.exit(f"server did not start; see {data_dir}/server.log")


def register(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    body = "name=Bench&email=bench%40example.com&password=a+long+enough+passphrase"
    headers = {"content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin", "accept": "application/json"}
    conn.request("POST", "/api/auth/register", body, headers)
    response = conn.getresponse(); response.read()
    cookie = response.getheader("set-cookie").split(";")[0]
    conn.request("POST", "/api/auth/account", "", dict(headers, cookie=cookie))
    return json.loads(conn.getresponse().read())["current_org"]["org_id"]


def event(n, org_id):
    return json.dumps({"id": f"evt_bench_{n}", "object": "event", "type": "checkout.session.completed",
                       "data": {"object": {"id": f"cs_bench_{n}", "object": "checkout.session", "mode": "payment",
                                           "amount_total": CENTS, "currency": "usd", "payment_status": "paid",
                                           "metadata": {"org_id": org_id, "purpose": "credits"}}}}).encode()


def signed(body):
    t = str(int(time.time()))
    v1 = hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={t},v1={v1}", "content-type": "application/json"}


def run(port, org_id, events, concurrency):
    latencies, failures, lock = [], [], threading.Lock()
    bodies = [event(n, org_id) for n in range(events)]

    def worker(start_index):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        mine = []
        for n in range(start_index, events, concurrency):
            began = time.perf_counter()
            conn.request("POST", "/webhooks/stripe", bodies[n], signed(bodies[n]))
            response = conn.getresponse(); response.read()
            mine.append(time.perf_counter() - began)
            if response.status != 200:
                with lock: failures.append(response.status)
        with lock: latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    began = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
    return {"events": events, "seconds": elapsed, "events_per_s": events / elapsed, "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "max_ms": latencies[-1] * 1000, "failures": len(failures)}


def credited(backend, database_url):
    sql = "select balance from wallet"
    if backend == "sqlite":
        path = database_url.removeprefix("sqlite://").split("?")[0]
        return sqlite3.connect(path).execute(sql).fetchone()[0]
    return int(subprocess.run(["psql", database_url, "-Atc", sql], capture_output=True, text=True, check=True).stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    print(f"binary: {binary()}; {args.events} distinct signed events, {args.concurrency} connections")
    ok = True
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as data_dir:
            proc, port, database_url = start(backend, data_dir)
            try:
                org_id = register(port)
                result = run(port, org_id, args.events, args.concurrency)
                balance = credited(backend, database_url)
            finally:
                proc.terminate(); proc.wait()
        expected = args.events * CENTS * 10_000
        exact = balance == expected
        ok &= exact and result["failures"] == 0
        print(f"{backend:9} {result['events_per_s']:8.0f} events/s   p50 {result['p50_ms']:6.2f} ms   "
              f"p99 {result['p99_ms']:6.2f} ms   max {result['max_ms']:7.2f} ms   non-200: {result['failures']}   "
              f"balance {'exact' if exact else f'WRONG ({balance} != {expected})'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
