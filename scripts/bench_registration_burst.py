#!/usr/bin/env python3
"""Peak memory of the server under a burst of parallel registrations.

Starts the built `phonebooth` binary once per database, then sends N
registrations with new emails (each a distinct address, so every one would
hash a password) all at once from N parallel connections. Reports the
server's peak resident set size (VmHWM from /proc, the kernel's high-water
mark) before and after the burst, and how the requests were answered
(200 registered, 503 turned away by the hashing limit, 429 throttled).

    PHONEBOOTH_BINARY=path/to/phonebooth python3 scripts/bench_registration_burst.py \\
        [--registrations 400] [--backends sqlite]

Argon2id takes 19 MiB per hash while it runs: without a concurrency limit
the peak grows with the burst; with it, with the 2-4 hashes allowed at once.
Linux only (/proc). Standard library only; helpers in scripts/bench_lib.py.
"""
import json
import time

import bench_lib


def peak_rss_mib(pid):
    """The process's peak resident set size so far, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench(backend, args):
    with bench_lib.Server(backend, keep=args.keep) as server:
        pid = server.proc.pid
        before = peak_rss_mib(pid)
        run = int(time.time())
        requests = [("/api/auth/register",
                     bench_lib.form({"name": "Burst", "email": f"burst{run}.{n}@example.com",
                                     "password": "a long enough passphrase"}).encode(),
                     bench_lib.FORM_HEADERS)
                    for n in range(args.registrations)]
        load = bench_lib.run_load(server.port, requests, args.registrations,
                                  lambda _i, status, _b: None if status in (200, 429, 503) else f"answered {status}")
        after = peak_rss_mib(pid)
        statuses = {}
        for answer in load.answers:
            status = answer[0] if answer else None
            statuses[status] = statuses.get(status, 0) + 1
        registered = server.db.value("select count(*) from app_user")
        consistent = registered == statuses.get(200, 0)
        # 503s are the expected answer beyond the hashing queue (the server logs each as an error).
        ok = not load.failures and consistent
        server.failed = not ok
        bench_lib.report(backend, "registration burst",
                         f"peak RSS {before:6.1f} MiB before, {after:6.1f} MiB after   "
                         f"({args.registrations} parallel, {load.elapsed:.1f} s)   "
                         f"answers {json.dumps({str(k): v for k, v in sorted(statuses.items(), key=str)})}   "
                         f"accounts {registered}{'' if consistent else ' (MISMATCH with 200s)'}")
        for line in bench_lib.failure_lines(load.failures):
            print(line)
    return ok


if __name__ == "__main__":
    parser = bench_lib.arg_parser(__doc__, backends="sqlite")
    parser.add_argument("--registrations", type=int, default=400)
    bench_lib.run_backends(parser.parse_args(), bench)
