#!/usr/bin/env python3
"""Benchmark calling on SQLite and PostgreSQL: status callbacks, the forced
hangup, and quotes.

Per database it starts the built `phonebooth` twice, registers an account
through the API and credits it with a grant written straight into the
database (wallet and ledger entry in one transaction), then measures:

1. Signed status callbacks (Twilio mode, against bench_lib.FakeTwilio, the
   same fake of Twilio's Calls API as the API tests', on a local port): starts N calls with
   /api/calls/start (figure: call starts/s), plays each browser connecting
   with its attempt (the signed voice request; figure: connects/s), then posts
   each dialed leg's four events (initiated, ringing, in-progress, completed
   with a duration, with ParentCallSid) and a duplicate of each, shuffled,
   from C keep-alive connections, each signed with X-Twilio-Signature. Figure: events/s and p50/p99/max latency. Checks:
   every answer 204, exactly one call_charge per call, each of the expected
   cost, every hold closed (wallet.held = 0), wallet balance = ledger sum.
2. Quotes, on the same server: M /api/calls/quote requests for varied
   numbers (international and national formats, several countries, a blocked
   range, an invalid number) from a few connections. Figure: requests/s and
   p50/p99/max. Check: each answer is the variant expected for its number.
3. Forced-hangup lateness (the built-in simulated carrier,
   CALL_MAX_DURATION_SECS=60): starts N calls at once (default 200), waits
   until all have ended (about 65 s), and reports p50/p99/max of
   hangup_sent_at_ms - hangup_at_ms over the calls cut off for
   credits_exhausted. Checks: every call was cut off that way, each charged
   at most its hold, every hold closed, balance = ledger sum.

    python3 scripts/bench_calls.py [--calls 200] [--quotes 1000] [--concurrency 8]
        [--quote-concurrency 4] [--skip-hangup] [--backends sqlite,postgres] [--keep]

Quick check: `--calls 50 --quotes 200` (the hangup part still waits ~65 s;
`--skip-hangup` leaves it out). Prints the binary used and one line per
figure; exits non-zero if any check fails, keeping that run's data folder
(server.log) and PostgreSQL database. Figures worth publishing come from a
release build: `source scripts/env.sh && cargo build --release -p server --bin phonebooth`
(the script prefers target/release/phonebooth when it is the newer binary).
Standard library only, plus psql; shared helpers in scripts/bench_lib.py.
"""
import json, random, time

import bench_lib

STATUSES = bench_lib.TWILIO_STATUSES
# Numbers the quote benchmark cycles through ({} = four digits 1000-9999) and the answer each must get.
QUOTE_NUMBERS = [
    ("+44 20 7183 {}", "GB", "Callable"),
    ("020 7946 {}", "GB", "Callable"),
    ("+1 212 736 {}", "US", "Callable"),
    ("(212) 736-{}", "US", "Callable"),
    ("+33 1 42 68 {}", "FR", "Callable"),
    ("+44 7911 12{}", "GB", "Callable"),
    ("+44 20 7183 {}", "US", "Callable"),
    ("+44 909 879 {}", "GB", "Refused"),  # premium rate: blocked in the sample deck
    ("12{}", "GB", "Refused"),  # not a valid number
]


def london(n):
    """A distinct London landline ($0.02/min, 60/60) that the simulated carrier
    answers and keeps up: it never ends in 0002-0005 or 00NN."""
    return f"+44207{183 + n // 9000:03d}{1000 + n % 9000}"


def expected_cost(view, duration):
    """rating::cost: connection fee + price x billed seconds / 60, rounded up to the micro-dollar."""
    initial, step = view["initial_increment"], view["subsequent_increment"]
    billed = initial if duration <= initial else initial + -(-(duration - initial) // step) * step
    return view["connection_fee"] + -(-view["price_per_minute"] * billed // 60)


def warm_up(backend, session, problems):
    """One quote before any timing: the first number parsed loads the phone
    metadata, which would otherwise land in the first call start's latency."""
    began = time.perf_counter()
    status, answer = session.call("calls/quote", {"number": london(0), "country": "GB"})
    bench_lib.report(backend, "first quote (cold)", f"{(time.perf_counter() - began) * 1000:8.0f} ms, not counted below")
    if status != 200 or not isinstance(answer, dict) or "Callable" not in answer:
        problems.append(f"a London number should be callable after the grant; quote answered {status}: {answer}")


def start_calls(server, session, count, concurrency, tag):
    """Places `count` calls from `concurrency` connections; returns (load, CallViews by index)."""
    requests = [session.request("calls/start", {"number": london(n), "country": "GB", "client_key": f"{tag}-{n}"})
                for n in range(count)]

    def accept(_index, status, body):
        started = bench_lib.parse_json(body)
        return None if status == 200 and isinstance(started, dict) and started.get("call", {}).get("call_id") \
            else f"answered {status}: {body[:300]!r}"

    load = bench_lib.run_load(server.port, requests, concurrency, accept)
    started = {i: json.loads(answer[1]) for i, answer in enumerate(load.answers) if answer and answer[0] == 200}
    views = {i: dict(s["call"], attempt=s.get("attempt")) for i, s in started.items()}
    return load, views


def legs(call_id):
    """The browser's leg and the leg its <Dial> makes, for a call of ours (one of each)."""
    digits = call_id.removeprefix("call_")
    return f"CAbb{digits[2:]}", f"CA{digits}"


def connect_requests(server, views, identity):
    """Each call's voice request, as Twilio makes it when the browser connects with the attempt."""
    requests = []
    for view in views.values():
        parent, _ = legs(view["call_id"])
        params = bench_lib.twilio_voice_params(parent, identity, view["attempt"])
        path = "/webhooks/twilio/voice"
        headers = {"content-type": "application/x-www-form-urlencoded",
                   "x-twilio-signature": bench_lib.twilio_signature(server.public_url + path, params)}
        requests.append((path, bench_lib.form(params).encode(), headers))
    return requests


def callback_requests(server, views, fake, rng):
    """Each call's four events and a duplicate of each, signed and shuffled; and each call's talk time."""
    requests, durations, now = [], {}, int(time.time())
    for index, view in views.items():
        parent, sid = legs(view["call_id"])
        durations[view["call_id"]] = duration = rng.randint(1, 900)
        began = now - duration - 60
        times = (began, began + 1, began + 5, began + 5 + duration)
        path = f"/webhooks/twilio/status?call={view['call_id']}"
        for sequence, (status, at) in enumerate(zip(STATUSES, times)):
            params = bench_lib.twilio_status_params(sid, view["e164"], status, sequence, at,
                                                    duration if status == "completed" else None, parent)
            headers = {"content-type": "application/x-www-form-urlencoded",
                       "x-twilio-signature": bench_lib.twilio_signature(server.public_url + path, params)}
            requests += [(path, bench_lib.form(params).encode(), headers)] * 2
    rng.shuffle(requests)
    return requests, durations


def check_books(db, org_id, problems):
    books = db.books(org_id)
    if books["held"] != 0:
        problems.append(f"wallet.held is {books['held']}, not 0: holds left open")
    if not books["balanced"]:
        problems.append(f"books do not balance: {books}")
    return books


def bench_callbacks(backend, server, session, fake, args, rng):
    """Part 1. Returns the problems found."""
    problems = []
    warm_up(backend, session, problems)
    load, views = start_calls(server, session, args.calls, args.concurrency, "cb")
    bench_lib.report(backend, "call start (twilio)", f"{load.latency_line('calls')}   failed: {len(load.failures)}")
    problems += [f"start: {p}" for _, p in load.failures[:3]]
    if fake.by_call_id:
        problems.append(f"the fake Twilio got {len(fake.by_call_id)} REST calls: browsers start calls")
    user_id = server.db.value("select user_id from call where org_id = "
                              f"{bench_lib.sql_literal(session.org_id)} limit 1")
    load = bench_lib.run_load(server.port, connect_requests(server, views, f"member-{user_id}"), args.concurrency,
                              lambda _i, status, body: None if status == 200 and b"<Dial" in body
                              else f"answered {status}: {body[:200]!r}")
    bench_lib.report(backend, "browser connects", f"{load.latency_line('connects')}   not dialed: {len(load.failures)}")
    problems += [f"connect: {p}" for _, p in load.failures[:3]]
    requests, durations = callback_requests(server, views, fake, rng)
    load = bench_lib.run_load(server.port, requests, args.concurrency,
                              lambda _i, status, body: None if status == 204 else f"answered {status}: {body[:200]!r}")
    bench_lib.report(backend, "status callbacks",
                     f"{load.latency_line('events')}   ({len(durations)} calls x 4 events x 2, "
                     f"{args.concurrency} connections)   non-204: {len(load.failures)}")
    problems += [f"callback: {p}" for _, p in load.failures[:3]]

    db, by_id = server.db, {view["call_id"]: view for view in views.values()}
    rows = db.rows(f"select call_id, carrier_sid, status, duration_secs, cost from call "
                   f"where org_id = {bench_lib.sql_literal(session.org_id)}")
    charges = {}
    for key, amount in db.rows("select idempotency_key, amount from ledger_entry where kind = 'call_charge'"):
        charges.setdefault(key, []).append(amount)
    wrong = []
    for call_id, sid, status, duration, cost in rows:
        if call_id not in durations:
            wrong.append(f"{call_id}: a call the benchmark did not complete (status {status})")
            continue
        expected = expected_cost(by_id[call_id], durations[call_id])
        got = charges.get(f"call:{sid}:charge", [])
        if status != "completed" or duration != durations[call_id] or cost != expected or got != [-expected]:
            wrong.append(f"{call_id}: status {status}, duration {duration} (sent {durations[call_id]}), "
                         f"cost {cost}, charges {got}, expected {-expected}")
    total_charges = sum(len(v) for v in charges.values())
    if len(rows) != len(durations) or total_charges != len(durations):
        problems.append(f"{len(rows)} calls and {total_charges} call_charge entries for {len(durations)} calls")
    problems += [f"call {w}" for w in wrong[:3]] + ([f"... {len(wrong)} calls wrong"] if len(wrong) > 3 else [])
    books = check_books(db, session.org_id, problems)
    verdict = "ok" if not problems else "FAILED"
    bench_lib.report(backend, "  checks", f"{verdict}: {len(rows) - len(wrong)}/{len(durations)} calls charged "
                     f"exactly once at the expected cost, held {books['held']}, balance {books['balance']} "
                     f"{'=' if books['balance'] == books['ledger_sum'] else '!='} ledger sum {books['ledger_sum']}")
    return problems


def bench_quotes(backend, server, session, args, rng):
    """Part 2. Returns the problems found."""
    picks = [(rng.choice(QUOTE_NUMBERS), rng.randint(1000, 9999)) for _ in range(args.quotes)]
    requests = [session.request("calls/quote", {"number": template.format(digits), "country": country})
                for (template, country, _), digits in picks]

    def accept(index, status, body):
        (template, country, variant), digits = picks[index]
        answer = bench_lib.parse_json(body)
        if status == 200 and isinstance(answer, dict) and variant in answer:
            return None
        return f"{template.format(digits)} ({country}) expected {variant}, got {status}: {body[:200]!r}"

    load = bench_lib.run_load(server.port, requests, args.quote_concurrency, accept)
    bench_lib.report(backend, "quotes", f"{load.latency_line('requests')}   ({args.quote_concurrency} connections, "
                     f"{len(QUOTE_NUMBERS)} number shapes)   wrong: {len(load.failures)}")
    return [f"quote: {p}" for _, p in load.failures[:3]]


def wait_until_ended(db, org_id, deadline):
    org = bench_lib.sql_literal(org_id)
    while True:
        open_calls = db.value(f"select count(*) from call where org_id = {org} and ended_at is null")
        if open_calls == 0 or time.time() > deadline:
            return open_calls
        time.sleep(1)


def bench_hangup(backend, args):
    """Part 3, on its own server with the simulated carrier. Returns the problems found."""
    problems, count = [], args.hangup_calls
    with bench_lib.Server(backend, {"CALL_MAX_DURATION_SECS": "60"}, keep=args.keep) as server:
        session = bench_lib.Session(server.port)
        server.db.grant(session.org_id, 1000 * bench_lib.MICROS_PER_DOLLAR)
        warm_up(backend, session, problems)
        began = time.time()
        load, views = start_calls(server, session, count, args.concurrency, "cut")
        bench_lib.report(backend, "call start (sim)", f"{load.latency_line('calls')}   failed: {len(load.failures)}")
        problems += [f"start: {p}" for _, p in load.failures[:3]]
        still_open = wait_until_ended(server.db, session.org_id, began + 60 + 180)
        waited = time.time() - began
        if still_open:
            problems.append(f"{still_open} calls still open {waited:.0f} s after dialing")
        rows = server.db.rows(
            "select c.call_id, c.status, c.end_reason, c.hangup_at_ms, c.hangup_sent_at_ms, c.duration_secs, c.cost, "
            "h.amount, h.status from call c left join hold h on h.hold_id = c.hold_id "
            f"where c.org_id = {bench_lib.sql_literal(session.org_id)} order by c.call_id")
        reasons, late, over = {}, [], []
        for call_id, status, reason, due_ms, sent_ms, duration, cost, hold, hold_status in rows:
            reasons[reason] = reasons.get(reason, 0) + 1
            if reason == "credits_exhausted" and due_ms is not None and sent_ms is not None:
                late.append(sent_ms - due_ms)
            if cost is None or hold is None or cost > hold or hold_status == "open":
                over.append(f"{call_id}: {status}/{reason}, {duration} s, cost {cost}, hold {hold} ({hold_status})")
        late.sort()
        pick = lambda p: bench_lib.percentile(late, p)
        bench_lib.report(backend, "forced hangup", f"lateness p50 {pick(0.50):6.0f} ms   p99 {pick(0.99):6.0f} ms   "
                         f"max {pick(1.0):6.0f} ms   min {pick(0.0):6.0f} ms   over "
                         f"{len(late)} cut-off calls of {len(views)} started; all ended {waited:.0f} s after dialing")
        if reasons.get("credits_exhausted", 0) != len(views) or len(late) != len(views):
            problems.append(f"expected all {len(views)} calls cut off for credits_exhausted with a hangup time; "
                            f"end reasons {reasons}, {len(late)} with hangup_sent_at_ms")
        problems += [f"call {o}" for o in over[:3]] + ([f"... {len(over)} calls over their hold"] if len(over) > 3 else [])
        jobs = server.db.rows("select count(*), sum(case when attempts > 1 then 1 else 0 end), "
                              "sum(case when finished_at is not null and last_error is not null then 1 else 0 end) "
                              "from job")[0]
        bench_lib.report(backend, "  job queue", f"{jobs[0]} jobs, {jobs[1] or 0} retried, {jobs[2] or 0} failed for good")
        if jobs[2]:
            example = server.db.rows("select kind, attempts, last_error from job where finished_at is not null "
                                     "and last_error is not null limit 1")
            problems.append(f"{jobs[2]} jobs failed for good, e.g. {example}")
        books = check_books(server.db, session.org_id, problems)
        bench_lib.report(backend, "  checks", f"{'ok' if not problems else 'FAILED'}: end reasons {reasons}, "
                         f"{len(rows) - len(over)}/{len(rows)} charged within their hold, held {books['held']}, "
                         f"balance {'=' if books['balanced'] else '!='} ledger sum")
        server.failed = bool(problems)
    return problems


def bench_backend(backend, args):
    rng = random.Random(args.seed)
    fake = bench_lib.FakeTwilio()
    try:
        with bench_lib.Server(backend, fake.settings(), keep=args.keep) as server:
            session = bench_lib.Session(server.port)
            # Each call holds up to 4 h at $0.02/min ($4.80) until it ends.
            server.db.grant(session.org_id, (10 * args.calls + 100) * bench_lib.MICROS_PER_DOLLAR)
            problems = bench_callbacks(backend, server, session, fake, args, rng)
            if args.quotes:
                problems += bench_quotes(backend, server, session, args, rng)
            server.failed = bool(problems)
    finally:
        fake.shutdown()
    if not args.skip_hangup:
        problems += bench_hangup(backend, args)
    for problem in problems:
        print(f"  {backend}: {problem}")
    return not problems


def main():
    parser = bench_lib.arg_parser(__doc__)
    parser.add_argument("--calls", type=int, default=200, help="calls in the callback and hangup parts")
    parser.add_argument("--hangup-calls", type=int, help="calls in the hangup part (default: --calls)")
    parser.add_argument("--quotes", type=int, default=1000)
    parser.add_argument("--quote-concurrency", type=int, default=4)
    parser.add_argument("--skip-hangup", action="store_true", help="leave out the ~65 s forced-hangup part")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.hangup_calls = args.hangup_calls or args.calls
    bench_lib.run_backends(args, bench_backend)


if __name__ == "__main__":
    main()
