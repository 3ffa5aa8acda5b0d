#!/usr/bin/env python3
"""Benchmark POST /webhooks/stripe on SQLite and PostgreSQL.

Starts the built `phonebooth` binary (release if built, else debug) once per
database with a known webhook secret, registers an account through the API,
then posts N signed `checkout.session.completed` events (each a distinct paid
credit purchase) from C concurrent keep-alive connections. Reports events/s
and p50/p99/max latency, and checks that the wallet holds exactly N purchases.

    python3 scripts/bench_stripe_webhook.py [--events 2000] [--concurrency 8] [--backends sqlite,postgres]

Figures worth publishing come from a release build
(`source scripts/env.sh && cargo build --release -p server --bin phonebooth`).
Needs only the Python standard library (and psql for PostgreSQL); the shared
helpers are in scripts/bench_lib.py.
"""
import json

import bench_lib

SECRET = "whsec_benchmark_secret_0123456789abcdef"
CENTS = 1000  # $10 per purchase


def event(n, org_id):
    return json.dumps({"id": f"evt_bench_{n}", "object": "event", "type": "checkout.session.completed",
                       "data": {"object": {"id": f"cs_bench_{n}", "object": "checkout.session", "mode": "payment",
                                           "amount_total": CENTS, "currency": "usd", "payment_status": "paid",
                                           "metadata": {"org_id": org_id, "purpose": "credits"}}}}).encode()


def signed(body):
    return {"stripe-signature": bench_lib.stripe_signature(SECRET, body), "content-type": "application/json"}


def bench(backend, args):
    with bench_lib.Server(backend, {"STRIPE_WEBHOOK_SECRET": SECRET}, keep=args.keep) as server:
        org_id = bench_lib.Session(server.port).org_id
        requests = []
        for n in range(args.events):
            body = event(n, org_id)
            requests.append(("/webhooks/stripe", body, signed(body)))
        load = bench_lib.run_load(server.port, requests, args.concurrency,
                                  lambda _i, status, _b: None if status == 200 else f"answered {status}")
        balance = server.db.value("select balance from wallet")
        expected = args.events * CENTS * 10_000
        exact = balance == expected
        server.failed = not exact or bool(load.failures)
        bench_lib.report(backend, "stripe webhook",
                         f"{load.latency_line('events')}   ({args.events} events, {args.concurrency} connections)   "
                         f"non-200: {len(load.failures)}   "
                         f"balance {'exact' if exact else f'WRONG ({balance} != {expected})'}")
        for line in bench_lib.failure_lines(load.failures):
            print(line)
    return not server.failed


if __name__ == "__main__":
    parser = bench_lib.arg_parser(__doc__)
    parser.add_argument("--events", type=int, default=2000)
    bench_lib.run_backends(parser.parse_args(), bench)
