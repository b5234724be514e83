# SPDX-License-Identifier: MIT
"""End-to-end fixtures: a scriptable HTTP app server and the real msgrelay binary.

  app    - an HTTP server on 127.0.0.1 that records every request and answers
           from a per-path script (default 200 {"dtm_result":"SUCCESS"}).
  relay  - a factory: relay(**flags) starts `$MSGRELAY_BIN serve` on a free
           loopback port with a fresh SQLite store in tmp_path (or, with
           MSGRELAY_E2E_STORE=mysql, a fresh migrated database on the
           session's private mariadbd: the whole suite on the MySQL store;
           MSGRELAY_E2E_STORE=postgres likewise on a private PostgreSQL server).
  mariadb - a private mariadbd for the session (tests/e2e/mariadb.py).
  postgres - a private PostgreSQL server for the session (tests/e2e/postgres.py).

Everything is loopback-only and stopped by PID at teardown. Standard library
and pytest only; run with /usr/bin/python3 (see the Makefile's e2e target).
"""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from e2e_helpers import POLL, SUCCESS_BODY, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


# --------------------------------------------------------------------------
# the application server
# --------------------------------------------------------------------------

class Call:
    """One request the app received."""

    __slots__ = ("method", "path", "params", "raw_query", "headers", "body", "t", "t_end",
                 "status", "completed")

    def __init__(self, method, path, params, raw_query, headers, body, t):
        self.method = method
        self.path = path
        self.params = params          # {name: first value}
        self.raw_query = raw_query
        self.headers = headers        # {lower-case name: value}
        self.body = body              # bytes
        self.t = t                    # time.monotonic() at arrival
        self.t_end = None             # time.monotonic() once the answer was written
        self.status = None            # status we answered with
        self.completed = False        # the answer reached the socket without error

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Call(%s %s?%s body=%r t=%.3f)" % (self.method, self.path, self.raw_query,
                                                   self.body[:80], self.t)


def _encode_body(body):
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


class App:
    """Scriptable recording HTTP server (see module docstring)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._calls = []
        self._queues = {}     # path -> deque of (status, body bytes, delay)
        self._defaults = {}   # path -> (status, body bytes, delay)
        self._inflight = {}   # path -> count
        self._conns_open = 0  # connections accepted and not yet closed
        self._conns_seen = 0  # connections accepted in all
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # keep pytest output clean
                pass

            def setup(self):
                super().setup()
                with app._lock:
                    app._conns_open += 1
                    app._conns_seen += 1

            def finish(self):
                try:
                    super().finish()
                finally:
                    with app._lock:
                        app._conns_open -= 1

            def _read_body(self):
                te = (self.headers.get("Transfer-Encoding") or "").lower()
                if "chunked" in te:
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(chunks)
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n > 0 else b""

            def _handle(self):
                t = time.monotonic()
                body = self._read_body()
                parsed = urllib.parse.urlsplit(self.path)
                params = {k: v[0] for k, v in
                          urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                call = Call(self.command, parsed.path, params, parsed.query, headers, body, t)
                status, rbody, delay = app._next_answer(parsed.path)
                call.status = status
                with app._lock:
                    app._calls.append(call)
                    app._inflight[parsed.path] = app._inflight.get(parsed.path, 0) + 1
                try:
                    if delay:
                        time.sleep(delay)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(rbody)))
                    self.end_headers()
                    self.wfile.write(rbody)
                    self.wfile.flush()
                    call.completed = True
                except OSError:
                    self.close_connection = True
                finally:
                    call.t_end = time.monotonic()
                    with app._lock:
                        app._inflight[parsed.path] -= 1

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass  # a relay that hangs up mid-answer is expected in some tests

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- scripting --
    def _next_answer(self, path):
        with self._lock:
            q = self._queues.get(path)
            if q:
                return q.popleft()
            return self._defaults.get(path, (200, _encode_body(SUCCESS_BODY), 0))

    def queue(self, path, status=200, body=SUCCESS_BODY, delay=0, times=1):
        """Answer the next @times requests to @path with (status, body) after @delay s."""
        with self._lock:
            q = self._queues.setdefault(path, deque())
            for _ in range(times):
                q.append((status, _encode_body(body), delay))

    def set_default(self, path, status=200, body=SUCCESS_BODY, delay=0):
        """Answer requests to @path (once its queue is empty) with (status, body)."""
        with self._lock:
            self._defaults[path] = (status, _encode_body(body), delay)

    # -- observing --
    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def calls(self, path=None):
        with self._lock:
            return [c for c in self._calls if path is None or c.path == path]

    def count(self, path=None):
        return len(self.calls(path))

    def inflight(self, path):
        with self._lock:
            return self._inflight.get(path, 0)

    def connections(self):
        """(open, seen): connections to the app open now, and accepted in all."""
        with self._lock:
            return self._conns_open, self._conns_seen

    def wait_calls(self, path, n, timeout=10):
        """Wait until @path has received at least @n requests; return them all."""
        def enough():
            got = self.calls(path)
            return got if len(got) >= n else None
        return wait_for(enough, timeout,
                        lambda: "%d call(s) to %s (got %d: %r)" % (n, path, self.count(path),
                                                                    self.calls(path)))

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def app():
    a = App()
    try:
        yield a
    finally:
        a.close()


# --------------------------------------------------------------------------
# the relay
# --------------------------------------------------------------------------

_LIVE_RELAYS = []   # relays whose fixture has not been torn down: their logs go into failure reports

WRITE_ROUTES = {"prepare", "submit", "abort", "forceStop", "newGid", "resetNextCronTime",
                "version", "ping"}


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def relay_binary():
    path = os.environ.get("MSGRELAY_BIN") or os.path.join(REPO, "build", "msgrelay")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("msgrelay binary not found or not executable: %r "
                    "(set MSGRELAY_BIN to the absolute path of build/msgrelay; run `make`)" % path,
                    pytrace=False)
    return path


def default_flags(port, store):
    return {
        "--port": str(port),
        "--bind": "127.0.0.1",
        "--store": "sqlite:" + store,
        "--retry-interval": "1",
        "--poll-interval-ms": "100",
        "--timeout-to-fail": "2",
        "--request-timeout": "2",
        "--log-level": "debug",
    }


class Relay:
    """One msgrelay process (restartable on the same port and store)."""

    def __init__(self, binary, workdir, name, flags=None, extra_args=()):
        """@flags: {"max_body": 1024} or {"--max-body": "1024"}; a value of None drops a default flag."""
        self.binary = binary
        self.workdir = workdir
        self.name = name
        self.port = free_port()
        self.store = os.path.join(workdir, "relay.db")
        merged = default_flags(self.port, self.store)
        for k, v in (flags or {}).items():
            key = k if k.startswith("--") else "--" + k.replace("_", "-")
            if v is None:
                merged.pop(key, None)
            else:
                merged[key] = str(v)
        self.port = int(merged.get("--port", self.port))
        self.argv = [binary, "serve"]
        for k, v in merged.items():
            self.argv += [k, v]
        self.argv += list(extra_args)
        self.log_path = os.path.join(workdir, "msgrelay.log")
        self.proc = None
        self.returncode = None
        # with --tls-cert the API is HTTPS; the test's self-signed certificate is its own CA
        self.ssl_context = None
        if "--tls-cert" in merged:
            self.ssl_context = ssl.create_default_context(cafile=merged["--tls-cert"])
        # the API is asked where --bind puts it: 127.0.0.1 unless the test binds elsewhere
        self.host = {"::1": "::1", "[::1]": "::1", "localhost": "localhost"}.get(
            merged.get("--bind"), "127.0.0.1")
        self.base = "%s://%s:%d" % ("https" if self.ssl_context else "http",
                                    "[::1]" if self.host == "::1" else self.host, self.port)

    # -- process control --
    def start(self, timeout=10):
        with open(self.log_path, "ab") as log:
            log.write(("\n==== start: %s\n" % " ".join(self.argv)).encode())
            log.flush()
            # hermetic: no MSGRELAY_* configuration leaks in from the caller (flags only)
            env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, cwd=self.workdir, env=env)
        self.returncode = None
        deadline = time.monotonic() + timeout
        last = None
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                pytest.fail("msgrelay exited with code %s during start-up; log tail:\n%s"
                            % (rc, self.log_tail()), pytrace=False)
            try:
                status, data = self.get("/api/ping", timeout=1)
                if status == 200:
                    return self
                last = (status, data)
            except OSError as e:
                last = e
            if time.monotonic() >= deadline:
                pytest.fail("msgrelay did not answer /api/ping within %ss (last: %r); log tail:\n%s"
                            % (timeout, last, self.log_tail()), pytrace=False)
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL, wait=10):
        """Send @sig to the process by PID and wait up to @wait s for it to end; return its code."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        os.kill(self.proc.pid, sig)
        if wait is None:
            return None
        try:
            self.returncode = self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.returncode = None
        return self.returncode

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s."""
        if not self.alive():
            return
        rc = self.kill(signal.SIGTERM, wait=10)
        if rc is None and self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.returncode = self.proc.wait(10)

    def restart(self, timeout=10):
        """Stop (SIGTERM) if still running, then start again on the same port and store."""
        self.stop()
        return self.start(timeout)

    def log_tail(self, lines=200):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
        except OSError as e:
            return "(no log: %s)" % e
        return "\n".join(data[-lines:])

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "WARNING: ThreadSanitizer")

    def sanitizer_report(self):
        """The first lines of a sanitizer report in the log, or "" when there is none."""
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        for i, line in enumerate(lines):
            if any(m in line for m in self.SANITIZER_MARKS):
                return "\n".join(lines[i:i + 40])
        return ""

    # -- HTTP --
    def path(self, route):
        return route if route.startswith("/") else "/api/dtmsvr/" + route

    def request(self, method, route, body=None, params=None, headers=None, timeout=15):
        """Return (status, parsed JSON or text, response headers)."""
        path = self.path(route)
        if params:
            path += "?" + urllib.parse.urlencode(params)
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else (
                body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8"))
            hdrs.setdefault("Content-Type", "application/json")
        if self.ssl_context is not None:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=self.ssl_context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
            rheaders = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        text = raw.decode("utf-8", "replace")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        name = path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        if status == 200 and name in WRITE_ROUTES and "FAILURE" in text:
            raise AssertionError("%s %s answered 200 but its body contains FAILURE: %r"
                                 % (method, path, text))
        return status, parsed, rheaders

    def post(self, route, body, **kw):
        status, data, _ = self.request("POST", route, body=body, **kw)
        return status, data

    def get(self, route, params=None, **kw):
        status, data, _ = self.request("GET", route, params=params, **kw)
        return status, data

    def query(self, gid):
        status, data = self.get("query", {"gid": gid})
        assert status == 200, "query %s -> %s %r" % (gid, status, data)
        return data

    def state(self, gid):
        t = self.query(gid).get("transaction")
        return t.get("status") if t else None

    def wait_state(self, gid, state, timeout=10):
        last = {}

        def check():
            last["q"] = self.query(gid)
            t = last["q"].get("transaction")
            return bool(t) and t.get("status") == state
        wait_for(check, timeout, lambda: "message %s to reach %r; last query: %s"
                 % (gid, state, json.dumps(last.get("q"))))
        return last["q"]

    def all(self, **params):
        status, data = self.get("all", {k: v for k, v in params.items() if v is not None})
        assert status == 200, "all %r -> %s %r" % (params, status, data)
        return data

    def metrics(self):
        status, text, headers = self.request("GET", "/api/metrics")
        assert status == 200, "metrics -> %s %r" % (status, text)
        return text


class RelayFactory:
    def __init__(self, basedir):
        self.basedir = basedir
        self.relays = []

    def __call__(self, flags=None, extra_args=(), start=True, **kwflags):
        binary = relay_binary()
        merged = dict(flags or {})
        merged.update(kwflags)
        n = len(self.relays)
        workdir = os.path.join(str(self.basedir), "relay%d" % n)
        os.makedirs(workdir, exist_ok=True)
        if _E2E_MARIADB and "store" not in merged and "--store" not in merged:
            merged["store"] = _e2e_server_store(binary)
        r = Relay(binary, workdir, "relay%d" % n, merged, extra_args)
        self.relays.append(r)
        _LIVE_RELAYS.append(r)
        if start:
            r.start()
        return r

    def close(self):
        """Stop every relay; then fail if a sanitizer (make test SAN=1) reported anything."""
        reports = []
        for r in self.relays:
            try:
                r.stop()
            finally:
                if r in _LIVE_RELAYS:
                    _LIVE_RELAYS.remove(r)
            found = r.sanitizer_report()
            if found:
                reports.append("%s (%s):\n%s" % (r.name, r.log_path, found))
        if reports:
            pytest.fail("sanitizer report in the msgrelay log:\n" + "\n".join(reports), pytrace=False)


@pytest.fixture
def relay(tmp_path):
    """Factory: relay(max_body=1024, ...) -> a started Relay. Stopped by PID at teardown."""
    f = RelayFactory(tmp_path)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def module_relay_factory(tmp_path_factory):
    """Like `relay`, for one process shared by a whole module."""
    f = RelayFactory(tmp_path_factory.mktemp("relay"))
    try:
        yield f
    finally:
        f.close()


# --------------------------------------------------------------------------
# MariaDB, for the MySQL store
# --------------------------------------------------------------------------

# The server every relay's store lives on when MSGRELAY_E2E_STORE=mysql (a MariaDB) or
# postgres (a Postgres); else empty. Both have create_database(), uri() and sql().
_E2E_MARIADB = []


def _e2e_server_store(binary):
    """A fresh database on the session's server, migrated by `msgrelay migrate`; its URI."""
    db = _E2E_MARIADB[0]
    uri = db.uri(db.create_database("r_" + uuid.uuid4().hex[:16]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([binary, "migrate", "--store", uri], capture_output=True, text=True,
                       timeout=60, env=env)
    if p.returncode != 0:
        pytest.fail("msgrelay migrate failed: %s" % p.stderr, pytrace=False)
    return uri

@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    """A private mariadbd shared by the session (tests/e2e/mariadb.py), stopped by PID at the
    end. Tests make their own databases on it: mariadb.uri(mariadb.create_database(name))."""
    from mariadb import MariaDB

    db = MariaDB(str(tmp_path_factory.mktemp("mariadb")))
    db.start()
    try:
        yield db
    finally:
        db.close()


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server shared by the session (tests/e2e/postgres.py), stopped by
    PID at the end. Tests make their own databases on it: postgres.uri(postgres.create_database(n))."""
    from postgres import Postgres

    db = Postgres()
    db.start()
    try:
        yield db
    finally:
        db.close()


@pytest.fixture(scope="session", autouse=True)
def _e2e_store(request):
    """MSGRELAY_E2E_STORE=mysql or postgres: start the session's server for every relay's store."""
    store = os.environ.get("MSGRELAY_E2E_STORE", "sqlite")
    if store not in ("sqlite", "mysql", "postgres"):
        pytest.fail("MSGRELAY_E2E_STORE must be sqlite, mysql or postgres, not %r" % store,
                    pytrace=False)
    if store == "mysql":
        _E2E_MARIADB.append(request.getfixturevalue("mariadb"))
    if store == "postgres":
        _E2E_MARIADB.append(request.getfixturevalue("postgres"))
    try:
        yield
    finally:
        _E2E_MARIADB.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        for r in list(_LIVE_RELAYS):
            rep.sections.append(("msgrelay log: %s (port %d, %s)" % (r.name, r.port, r.log_path),
                                 r.log_tail()))


__all__ = ["App", "Relay", "RelayFactory", "POLL"]
