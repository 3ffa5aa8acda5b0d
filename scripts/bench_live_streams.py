#!/usr/bin/env python3
"""Database work of idle live call streams (GET /calls/live) on PostgreSQL.

Starts the built `phonebooth` with a fresh PostgreSQL database, registers
enough accounts (a user may hold at most 5 streams), opens N streams
(default 1,000) from one asyncio loop on 127.0.0.1, waits until every one
has answered 200 and a few seconds more, then reads the database's
committed transactions (`pg_stat_database.xact_commit`, read from the admin
database so the reads are not counted) before and after a window of
W seconds (default 30: one whole session re-check period, since each stream
re-checks its session every LIVE_SESSION_CHECK_SECS = 30 s after it opened
and the streams open within a second or two of each other, so a shorter
window would see either none or all of those re-checks) in which nothing
else happens. Every statement the
server runs outside an explicit transaction is one transaction, so the
figure is the server's queries per second with N idle streams open. The
same window is measured first with no stream open (the server's own
background work: job queue, sweeps), and both figures are printed.

    python3 scripts/bench_live_streams.py [--streams 1000] [--window 30] [--keep]

Set PHONEBOOTH_BINARY to measure a particular build (e.g. one built from an
older commit, for a before/after comparison); a debug build is fine for this
figure (it counts queries, not time). Checks: every stream answered 200 and
stayed open through the window. Standard library only, plus psql; shared
helpers in scripts/bench_lib.py.
"""
import asyncio, time

import bench_lib

STREAMS_PER_USER = 5


def committed(db_name):
    """The database's committed transactions so far, as the statistics collector has them."""
    out = bench_lib.subprocess.run(
        ["psql", bench_lib.PG_ADMIN, "-Atc",
         f"select pg_stat_clear_snapshot(); select xact_commit from pg_stat_database where datname = '{db_name}'"],
        capture_output=True, text=True, check=True).stdout.split()
    return int(out[-1])


def per_second(db_name, window):
    # The statistics are flushed by each backend at most about once a second: wait that out at both ends.
    time.sleep(1.5)
    before = committed(db_name)
    time.sleep(window)
    after = committed(db_name)
    return (after - before) / window


async def open_stream(port, cookie, org_id, opened, alive):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"GET /calls/live?org_id={org_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  f"Cookie: {cookie}\r\nAccept: text/event-stream\r\nUser-Agent: bench\r\n\r\n").encode())
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1]) if status_line else 0
    opened.append(status)
    if status != 200:
        writer.close()
        return
    try:
        while await reader.read(4096):
            pass
    finally:
        alive.append(False)
        writer.close()


async def hold_streams(server, sessions, count, window):
    opened, closed = [], []
    tasks = []
    for i in range(count):
        session = sessions[i // STREAMS_PER_USER]
        tasks.append(asyncio.create_task(
            open_stream(server.port, session.cookie, session.org_id, opened, closed)))
        # 100 a second: opening is a few queries each (session, membership, recent calls).
        if i % 20 == 19:
            await asyncio.sleep(0.2)
    while len(opened) < count:
        await asyncio.sleep(0.1)
    await asyncio.sleep(3)
    rate = await asyncio.to_thread(per_second, server.db_name, window)
    answered, closed_early = opened.count(200), len(closed)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return rate, answered, closed_early, answered == count and not closed_early


def bench(backend, args):
    if backend != "postgres":
        print(f"{backend}: skipped (this figure is PostgreSQL's)")
        return True
    users = -(-args.streams // STREAMS_PER_USER)
    with bench_lib.Server(backend, keep=args.keep) as server:
        started = time.time()
        sessions = [bench_lib.Session(server.port, name=f"Streamer {i}", email=f"streamer{i}@example.com")
                    for i in range(users)]
        print(f"  {users} accounts registered in {time.time() - started:.0f} s", flush=True)
        idle = per_second(server.db_name, args.window)
        bench_lib.report(backend, "no stream open", f"{idle:.1f} transactions/s")
        rate, answered, closed, ok = asyncio.run(hold_streams(server, sessions, args.streams, args.window))
        bench_lib.report(backend, f"{args.streams} idle streams open",
                         f"{rate:.1f} transactions/s ({answered} answered 200, {closed} closed early)")
        if not ok:
            server.failed = True
        return ok


if __name__ == "__main__":
    parser = bench_lib.arg_parser(__doc__, backends="postgres")
    parser.add_argument("--streams", type=int, default=1000, help="idle streams to hold open")
    parser.add_argument("--window", type=float, default=30, help="seconds measured")
    bench_lib.run_backends(parser.parse_args(), bench)
