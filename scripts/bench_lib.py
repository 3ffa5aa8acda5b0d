"""Shared helpers of the benchmark scripts (bench_stripe_webhook.py, bench_calls.py).

Standard library only, plus the `psql` CLI for PostgreSQL:
- `binary()`: the built `phonebooth` to run (release if present and newer, else
  debug; $PHONEBOOTH_BINARY overrides),
  hard-linked once per run so a concurrent rebuild cannot swap it;
- `Server`: runs it (or another build: `binary_path`) on a free port with
  its own SQLite folder or a fresh PostgreSQL database, and removes both
  afterwards unless a check failed (then the data folder, with server.log,
  and the database are kept);
- `Database`: reads and writes that database (sqlite3 module or psql);
- `Session`: an account registered through the API, calling server functions;
- `run_load`: sends requests from concurrent keep-alive connections and
  times each; `latency_line` formats the figures;
- the providers, as the API tests imitate them: `FakeTwilio` (the same fake
  of Twilio's Calls API as server/tests/api/common/fake_twilio.rs: routes,
  credentials, refusals, error bodies, ending rules), `twilio_signature` and
  `twilio_status_params` (a status callback as Twilio signs and sends it,
  like server/src/providers/twilio/{signature,wire}.rs), and
  `stripe_signature` (the Stripe-Signature header, like
  server/src/providers/stripe/signature.rs).
"""
import argparse, atexit, base64, hashlib, hmac, http.client, http.server, itertools, json, os, re, shutil, socket
import sqlite3, subprocess, sys, tempfile, threading, time
import urllib.parse, urllib.request, uuid

PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SESSION_SECRET = "benchmark-session-secret-0123456789"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What a same-origin browser form post sends (the server functions' origin check needs it).
FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin",
                "accept": "application/json"}
MICROS_PER_DOLLAR = 1_000_000


def arg_parser(doc, *, backends="sqlite,postgres", concurrency=8):
    """The options every benchmark has; the script adds its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=backends, help="comma-separated: sqlite, postgres")
    parser.add_argument("--concurrency", type=int, default=concurrency, help="keep-alive connections")
    parser.add_argument("--keep", action="store_true", help="keep data folders and databases even when all is well")
    return parser


def run_backends(args, bench):
    """Prints the binary, runs `bench(backend, args)` (True when its checks pass)
    on each backend of --backends, and exits 0 only if every check passed."""
    print(describe_binary(), flush=True)
    results = [bench(backend, args) for backend in args.backends.split(",")]
    print("all checks passed" if all(results) else "SOME CHECKS FAILED")
    sys.exit(0 if all(results) else 1)


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def built_binary():
    """$PHONEBOOTH_BINARY if set; else target/release/phonebooth if built, else
    target/debug/phonebooth. Release first even when the debug build is newer
    (running the tests rebuilds it): the line `describe_binary` prints says
    which build and when, so a stale release build shows."""
    if os.environ.get("PHONEBOOTH_BINARY"):
        return os.path.abspath(os.environ["PHONEBOOTH_BINARY"])
    found = [os.path.join(ROOT, "target", p, "phonebooth") for p in ("release", "debug")]
    found = [path for path in found if os.path.exists(path)]
    if not found:
        sys.exit("build first: source scripts/env.sh && cargo build --release -p server --bin phonebooth")
    return found[0]


_snapshot = {}
_snapshots = {}


def binary():
    """A private snapshot (`snapshot_of`) of the built binary, made once per run."""
    if "path" not in _snapshot:
        _snapshot["source"] = built_binary()
        _snapshot["path"] = snapshot_of(_snapshot["source"])
    return _snapshot["path"]


def snapshot_of(source):
    """A private hard link (or copy) of the binary at `source`, made once per
    run, so a rebuild meanwhile (target/ may be shared) cannot swap it under
    the benchmark."""
    source = os.path.abspath(source)
    if source not in _snapshots:
        folder = tempfile.mkdtemp(prefix="pb_bench_bin_", dir=os.path.dirname(os.path.dirname(source)))
        atexit.register(shutil.rmtree, folder, True)
        path = os.path.join(folder, "phonebooth")
        try:
            os.link(source, path)
        except OSError:
            shutil.copy2(source, path)
        _snapshots[source] = path
    return _snapshots[source]


def describe_binary():
    binary()
    source = _snapshot["source"]
    built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(source)))
    debug = os.sep + "debug" + os.sep in source
    note = "  (debug build: take published figures from a release build)" if debug else ""
    shown = os.path.relpath(source, ROOT) if source.startswith(ROOT + os.sep) else source
    return f"binary: {shown} (built {built}){note}"


class Server:
    """The built binary on a free port, with its own database; a context manager.

    Set `failed = True` before leaving to keep the data folder (server.log) and
    the PostgreSQL database for a look afterwards. `binary_path` runs another
    build than `binary()` (snapshotted the same way)."""

    def __init__(self, backend, env=None, keep=False, binary_path=None):
        self.backend, self.extra_env, self.keep, self.failed = backend, env or {}, keep, False
        self.binary_path = snapshot_of(binary_path) if binary_path else None
        self.proc = self.db_name = None

    def __enter__(self):
        self.port = free_port()
        self.base = self.public_url = f"http://127.0.0.1:{self.port}"
        self.data_dir = tempfile.mkdtemp(prefix=f"pb_bench_{self.backend}_")
        env = dict(os.environ, DATA_DIR=self.data_dir, BIND_ADDR=f"127.0.0.1:{self.port}", PUBLIC_URL=self.public_url,
                   SESSION_SECRET=SESSION_SECRET, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        env.update(self.extra_env)
        if self.backend == "postgres":
            self.db_name = f"pb_bench_{time.strftime('%Y%m%d%H%M%S')}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            subprocess.run(["psql", PG_ADMIN, "-qc", f"create database {self.db_name}"], check=True)
            env["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.db_name
        elif self.backend == "sqlite":
            env["DATABASE_URL"] = f"sqlite://{self.data_dir}/bench.db?mode=rwc"
        else:
            sys.exit(f"unknown backend {self.backend!r}: sqlite or postgres")
        self.database_url = env["DATABASE_URL"]
        self.log_path = os.path.join(self.data_dir, "server.log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen([self.binary_path or binary()], env=env, stdout=log, stderr=log, cwd=ROOT)
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{self.base}/readyz", timeout=1)
                self.db = Database(self.backend, self.database_url)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.failed = True
        self.__exit__(None, None, None)
        sys.exit(f"server did not start; see {self.log_path}")

    def __exit__(self, kind, value, traceback):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill(); self.proc.wait()
        self.log_summary()
        if self.failed or self.keep or kind is not None:
            where = f"database {self.db_name}, " if self.db_name else ""
            print(f"  kept for inspection: {where}{self.log_path}", flush=True)
            return
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self.db_name:
            subprocess.run(["psql", PG_ADMIN, "-qc", f"drop database if exists {self.db_name} with (force)"],
                           check=False, capture_output=True)

    def log_summary(self):
        """Prints how many warnings and errors the server logged (RUST_LOG=warn), with the first error."""
        try:
            with open(self.log_path, errors="replace") as log:
                lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip() for line in log]
        except OSError:
            return
        warnings = [line for line in lines if re.search(r"\bWARN\b", line)]
        errors = [line for line in lines if re.search(r"\bERROR\b", line)]
        if warnings or errors:
            first = (errors or warnings)[0]
            print(f"  server log: {len(warnings)} warnings, {len(errors)} errors; first: {first[:400]}", flush=True)
            if errors:
                self.failed = True  # keep the log


def sql_literal(value):
    """A SQL literal for the few values the scripts write: None, integers and plain text."""
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class Database:
    """Reads and writes the server's database while it runs: SQLite through the
    sqlite3 module, PostgreSQL through psql. Integers come back as int, NULL as None."""

    def __init__(self, backend, url):
        self.backend, self.url = backend, url

    def rows(self, sql):
        if self.backend == "sqlite":
            with self._sqlite() as conn:
                return conn.execute(sql).fetchall()
        out = self._psql(["-AtF", "\t", "-P", "null=\\N", "-c", sql])
        return [tuple(_psql_value(v) for v in line.split("\t")) for line in out.splitlines()]

    def value(self, sql):
        rows = self.rows(sql)
        return rows[0][0] if rows else None

    def transaction(self, statements):
        """Runs the statements in one transaction (the writer lock taken first on SQLite)."""
        body = ";\n".join(statements) + ";"
        if self.backend == "sqlite":
            with self._sqlite() as conn:
                conn.executescript(f"begin immediate;\n{body}\ncommit;")
        else:
            self._psql(["-q", "-c", f"begin;\n{body}\ncommit;"])

    def _sqlite(self):
        path = self.url.removeprefix("sqlite://").split("?")[0]
        conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        return _Closing(conn)

    def _psql(self, args):
        return subprocess.run(["psql", self.url, "-v", "ON_ERROR_STOP=1", *args], capture_output=True, text=True,
                              check=True).stdout

    def grant(self, org_id, micros):
        """Credits the organization like an operator grant: wallet and ledger entry in one transaction."""
        now, tag = int(time.time()), uuid.uuid4().hex
        org = sql_literal(org_id)
        self.transaction([
            f"insert into wallet (org_id, balance, held, updated_at) values ({org}, {micros}, 0, {now}) "
            f"on conflict (org_id) do update set balance = wallet.balance + excluded.balance, "
            f"updated_at = excluded.updated_at",
            f"insert into ledger_entry (ledger_entry_id, org_id, kind, amount, balance_after, actor, description, "
            f"idempotency_key, created_at) select 'led_bench_{tag}', org_id, 'grant', {micros}, balance, 'system', "
            f"'benchmark credit', 'bench:grant:{tag}', {now} from wallet where org_id = {org}",
        ])

    def books(self, org_id):
        """The wallet as stored and as recomputed from the ledger and the open holds."""
        org = sql_literal(org_id)
        balance, held = self.rows(f"select balance, held from wallet where org_id = {org}")[0]
        ledger = self.value(f"select coalesce(sum(amount), 0) from ledger_entry where org_id = {org}")
        open_holds = self.value(f"select coalesce(sum(amount), 0) from hold where org_id = {org} and status = 'open'")
        return {"balance": balance, "held": held, "ledger_sum": ledger, "open_holds": open_holds,
                "balanced": balance == ledger and held == open_holds}


class _Closing:
    def __init__(self, conn): self.conn = conn
    def __enter__(self): return self.conn
    def __exit__(self, *_): self.conn.close()


def _psql_value(text):
    if text == "\\N":
        return None
    try:
        return int(text)
    except ValueError:
        return text


def form(fields):
    return urllib.parse.urlencode(fields)


class Session:
    """An account registered through the API (one organization) and its session cookie."""

    def __init__(self, port, name="Bench", email="bench@example.com"):
        self.port = port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/api/auth/register",
                     form({"name": name, "email": email, "password": "a long enough passphrase"}), FORM_HEADERS)
        response = conn.getresponse(); body = response.read()
        if response.status >= 300 or not response.getheader("set-cookie"):
            sys.exit(f"registering failed: {response.status} {body[:300]!r}")
        self.cookie = response.getheader("set-cookie").split(";")[0]
        self.headers = dict(FORM_HEADERS, cookie=self.cookie)
        conn.request("POST", "/api/auth/account", "", self.headers)
        self.org_id = json.loads(conn.getresponse().read())["current_org"]["org_id"]
        conn.close()

    def request(self, endpoint, fields):
        """A server function request for `run_load`: (path, body, headers)."""
        return (f"/api/{endpoint}", form(dict(fields, org_id=self.org_id)).encode(), self.headers)

    def call(self, endpoint, fields):
        """One server function call on a fresh connection: (status, parsed JSON or text)."""
        path, body, headers = self.request(endpoint, fields)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("POST", path, body, headers)
        response = conn.getresponse(); raw = response.read(); conn.close()
        return response.status, parse_json(raw)


def parse_json(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


class Load:
    """What `run_load` measured: per-request latency (s), answers, failures."""

    def __init__(self, count, elapsed, latencies, answers, failures):
        self.count, self.elapsed, self.latencies, self.answers, self.failures = (
            count, elapsed, sorted(latencies), answers, failures)

    @property
    def per_second(self):
        return self.count / self.elapsed if self.elapsed else float("inf")

    def percentile_ms(self, p):
        return percentile(self.latencies, p) * 1000

    def latency_line(self, unit="requests"):
        return (f"{self.per_second:8.0f} {unit}/s   p50 {self.percentile_ms(0.50):7.2f} ms   "
                f"p99 {self.percentile_ms(0.99):7.2f} ms   max {self.percentile_ms(1.0):7.2f} ms")


def percentile(ordered, p):
    """Nearest-rank percentile of sorted values (p = 0.5, 0.99, 1.0 for the maximum); NaN if none."""
    if not ordered:
        return float("nan")
    rank = -(-round(p * 1000) * len(ordered) // 1000)
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def run_load(port, requests, concurrency, accept):
    """Sends `requests` ((path, body, headers) tuples, in order, each taken by the
    next free connection) from `concurrency` keep-alive connections.
    `accept(index, status, body)` returns None when the answer is right, else
    what is wrong. Answers are kept by index as (status, raw body)."""
    answers, failures, latencies, lock = [None] * len(requests), [], [], threading.Lock()
    counter = itertools.count()

    def worker():
        conn, mine = http.client.HTTPConnection("127.0.0.1", port, timeout=120), []
        while True:
            with lock:
                index = next(counter)
            if index >= len(requests):
                break
            path, body, headers = requests[index]
            began = time.perf_counter()
            try:
                conn.request("POST", path, body, headers)
                response = conn.getresponse(); raw = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                conn.close(); conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                status, raw = None, repr(error).encode()
            mine.append(time.perf_counter() - began)
            answers[index] = (status, raw)
            problem = accept(index, status, raw) if status is not None else f"connection error {raw.decode()}"
            if problem:
                with lock: failures.append((index, problem))
        conn.close()
        with lock: latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(max(1, concurrency))]
    began = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    return Load(len(requests), time.perf_counter() - began, latencies, answers, sorted(failures))


def failure_lines(failures, limit=3):
    """The first few (index, problem) failures, for the report."""
    return [f"    e.g. request {index}: {problem}" for index, problem in failures[:limit]]


def report(backend, figure, text):
    print(f"{backend:9} {figure:22} {text}", flush=True)


# ---- Stripe and Twilio, as the API tests imitate them ----

def stripe_signature(secret, body, timestamp=None):
    """The Stripe-Signature header value for `body` (bytes): t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>.<body>"))."""
    t = str(int(time.time()) if timestamp is None else timestamp)
    v1 = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={v1}"


# The fake's credentials and caller id: the values of common/fake_twilio.rs.
TWILIO_ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
TWILIO_CALLER_ID = "+15005550006"
TWILIO_API_KEY_SID = "SK0123456789abcdef0123456789abcdef"
TWILIO_TWIML_APP_SID = "AP0123456789abcdef0123456789abcdef"
# Twilio's test credentials refuse this `To` (error 21211); the fake also refuses any `To` ending in 0005 (21217).
TWILIO_INVALID_NUMBER = "+15005550001"
TWILIO_CALLS_PATH = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Calls"
TWILIO_STATUSES = ("initiated", "ringing", "in-progress", "completed")


def rfc2822(unix):
    """Unix seconds as Twilio writes times: Sat, 21 Nov 2026 10:00:00 +0000."""
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(unix))


def twilio_signature(url, params, auth_token=TWILIO_AUTH_TOKEN):
    """Twilio's X-Twilio-Signature: base64 HMAC-SHA1 of the URL and the sorted name+value pairs."""
    payload = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def twilio_status_params(call_sid, to, status, sequence, timestamp, duration=None, parent_sid=None):
    """A status callback's form fields, as Twilio sends them (wire.rs, status_callback_params); with
    `parent_sid`, those of the leg a browser leg's <Dial> made."""
    params = [("AccountSid", TWILIO_ACCOUNT_SID), ("ApiVersion", "2010-04-01"), ("CallSid", call_sid),
              ("CallStatus", status), ("Direction", "outbound-dial" if parent_sid else "outbound-api"),
              ("From", TWILIO_CALLER_ID), ("To", to),
              ("SequenceNumber", str(sequence)), ("Timestamp", rfc2822(timestamp)),
              ("CallbackSource", "call-progress-events")]
    if parent_sid:
        params.append(("ParentCallSid", parent_sid))
    if status == "completed" and duration is not None:
        # `Duration` is in minutes, each started minute counted.
        params += [("CallDuration", str(duration)), ("Duration", str(-(-duration // 60)))]
    return params


def twilio_voice_params(parent_sid, identity, attempt):
    """The voice request Twilio makes when a browser connects with `attempt` (wire.rs, voice_request_params)."""
    caller = f"client:{identity}"
    return [("AccountSid", TWILIO_ACCOUNT_SID), ("ApiVersion", "2010-04-01"), ("CallSid", parent_sid),
            ("CallStatus", "ringing"), ("Direction", "inbound"), ("From", caller), ("Caller", caller),
            ("To", ""), ("Called", ""), ("attempt", attempt)]


class FakeTwilio(http.server.ThreadingHTTPServer):
    """Twilio's Calls API on a local port, behaving as server/tests/api/common/fake_twilio.rs does:
    POST {TWILIO_CALLS_PATH}.json places a call (201, Twilio's Call resource, `queued`); GET and POST
    {TWILIO_CALLS_PATH}/<sid>.json fetch it and end it by Twilio's rules (`canceled` leaves an answered
    call alone, `completed` hangs up, a call that is over refuses with 21220); HTTP Basic auth with
    TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN; Twilio's error body for refusals. It sends no status
    callbacks: the benchmark posts them. `by_call_id` maps our call id (the `call` parameter of the
    StatusCallback URL) to the SID the fake gave the call. `shutdown()` stops it."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _FakeTwilioHandler)
        self.base = f"http://127.0.0.1:{self.server_address[1]}"
        self.calls, self.by_call_id, self.lock, self.next = {}, {}, threading.Lock(), 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def settings(self):
        """The settings that put the app in Twilio mode against this fake."""
        return {"TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
                "TWILIO_API_BASE": self.base, "TWILIO_CALLER_ID": TWILIO_CALLER_ID,
                "TWILIO_API_KEY_SID": TWILIO_API_KEY_SID, "TWILIO_API_KEY_SECRET": "bench-api-key-secret",
                "TWILIO_TWIML_APP_SID": TWILIO_TWIML_APP_SID,
                # A private test deployment: the real-carrier code with sandbox payments.
                "ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO": "1"}


def _twilio_call_resource(sid, to, frm):
    """The shape of Twilio's Call resource for a call just created."""
    return {"account_sid": TWILIO_ACCOUNT_SID, "annotation": None, "answered_by": None, "api_version": "2010-04-01",
            "caller_name": None, "date_created": None, "date_updated": None, "direction": "outbound-api",
            "duration": None, "end_time": None, "forwarded_from": None, "from": frm, "from_formatted": frm,
            "group_sid": None, "parent_call_sid": None, "phone_number_sid": "PN0123456789abcdef0123456789abcdef",
            "price": None, "price_unit": "USD", "queue_time": "0", "sid": sid, "start_time": None, "status": "queued",
            "subresource_uris": {"notifications": f"{TWILIO_CALLS_PATH}/{sid}/Notifications.json",
                                 "recordings": f"{TWILIO_CALLS_PATH}/{sid}/Recordings.json"},
            "to": to, "to_formatted": to, "trunk_sid": None, "uri": f"{TWILIO_CALLS_PATH}/{sid}.json"}


class _FakeTwilioHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm and
    # the app's delayed ACK add ~40 ms to every call start.
    disable_nagle_algorithm = True
    route = re.compile(rf"^{re.escape(TWILIO_CALLS_PATH)}(?:/([A-Za-z0-9]+))?\.json$")
    authorization = "Basic " + base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()

    def log_message(self, *_):
        pass

    def answer(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def error(self, status, code, message):
        """Twilio's error body."""
        self.answer(status, {"code": code, "message": message,
                             "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status})

    def refused(self):
        """The checks before any route: credentials (401, 20003)."""
        if self.headers.get("authorization") != self.authorization:
            self.error(401, 20003, "Authenticate")
            return True
        return False

    def not_found(self):
        self.error(404, 20404, f"The requested resource {self.path} was not found")

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        fields = dict(urllib.parse.parse_qsl(raw))
        if self.refused():
            return
        match, fake = self.route.match(self.path), self.server
        if not match:
            return self.not_found()
        with fake.lock:
            if match.group(1) is None:
                to = fields.get("To", "")
                if to == TWILIO_INVALID_NUMBER:
                    return self.error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
                if to.endswith("0005"):
                    return self.error(400, 21217, "Phone number is not a valid phone number")
                fake.next += 1
                sid = f"CA{fake.next:032x}"
                query = urllib.parse.urlparse(fields.get("StatusCallback", "")).query
                call_id = urllib.parse.parse_qs(query).get("call", [None])[0]
                fake.calls[sid] = call = _twilio_call_resource(sid, to, fields.get("From", ""))
                fake.by_call_id[call_id] = sid
                return self.answer(201, call)
            call = fake.calls.get(match.group(1))
            if call is None:
                return self.not_found()
            if call["status"] not in ("queued", "initiated", "ringing", "in-progress"):
                return self.error(400, 21220, "Call is not in-progress. Cannot redirect.")
            wanted, now = fields.get("Status", ""), rfc2822(int(time.time()))
            if wanted == "canceled":
                if call["status"] != "in-progress":
                    call.update(status="canceled", duration="0", end_time=now)
            elif wanted == "completed":
                call.update(status="completed", end_time=now)
            else:
                return self.error(400, 21218, f"Invalid Status: {wanted}")
            return self.answer(200, call)

    def do_GET(self):
        if self.refused():
            return
        match = self.route.match(self.path)
        call = self.server.calls.get(match.group(1)) if match and match.group(1) else None
        if call is None:
            return self.not_found()
        with self.server.lock:
            call = dict(call)
        self.answer(200, call)
