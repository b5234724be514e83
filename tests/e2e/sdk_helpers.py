# SPDX-License-Identifier: MIT
"""Pieces the SDK end-to-end tests share (test_sdk.py, test_transfer.py):

  Bank        - one process of the C transfer example (examples/transfer),
                which uses libmsgrelay for TransOut, TransIn and QueryPrepared.
  MySQLProxy  - a TCP proxy in front of MariaDB that can lose the next COMMIT
                on the way in, lose its OK on the way back, or hold it: real
                network faults at the one moment do_and_submit_db cares about.
  RelayGate   - an HTTP proxy in front of the relay that can hold a route's
                request (before or after forwarding it) and then drop or
                release it: "the app stopped right here", without test hooks
                in the SDK.

Everything listens on 127.0.0.1 and is stopped by PID or by closing its
sockets. Standard library only; synchronisation is by events and deadlines.
"""
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from e2e_helpers import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_dir():
    """The build the tests run against: $MSGRELAY_BUILD, else build/."""
    return os.environ.get("MSGRELAY_BUILD") or os.path.join(REPO, "build")


def transfer_binary():
    path = os.path.join(build_dir(), "examples", "transfer", "transfer")
    if not os.access(path, os.X_OK):
        pytest.fail("transfer example not built: %r (run `make build` or `make examples`)" % path,
                    pytrace=False)
    return path


def fetch(method, url, body=None, timeout=15):
    """(status, parsed JSON or text) of one request; body is JSON-encoded when not bytes/str."""
    u = urllib.parse.urlsplit(url)
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, u.path + ("?" + u.query if u.query else ""), body=data,
                     headers=headers)
        resp = conn.getresponse()
        raw = resp.read().decode("utf-8", "replace")
        status = resp.status
    finally:
        conn.close()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


# --------------------------------------------------------------------------
# the example service
# --------------------------------------------------------------------------

class Bank:
    """One transfer-example process. @public_url: where the relay and the
    SDK's own back-check reach TransIn / QueryPrepared (default: itself)."""

    def __init__(self, workdir, name, db_uri, relay_url, public_url=None, schema=False,
                 extra=(), env=None):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.name = name
        self.log_path = os.path.join(workdir, "%s.log" % name)
        argv = [transfer_binary(), "--port", str(self.port), "--db", db_uri,
                "--relay", relay_url, "--public-url", public_url or self.url]
        if schema and db_uri.startswith("postgres"):
            argv += ["--schema", os.path.join(REPO, "sql", "barrier", "postgres.sql"),
                     "--schema", os.path.join(REPO, "examples", "transfer",
                                              "schema_postgres.sql")]
        elif schema:
            argv += ["--schema", os.path.join(REPO, "sql", "barrier", "mysql.sql"),
                     "--schema", os.path.join(REPO, "examples", "transfer", "schema.sql")]
        argv += list(extra)
        if os.environ.get("MSGRELAY_VALGRIND"):
            # MSGRELAY_VALGRIND=1: every bank under valgrind; a leak or error fails close()
            argv = ["valgrind", "-q", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                    "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99"] + argv
        self.argv = argv
        self.killed = False
        # the SDK reads MSGRELAY_API_TOKEN and MSGRELAY_CA_FILE: only what the test gives
        penv = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
        penv.update(env or {})
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=workdir, env=penv)
        wait_for(self._ready, 30, lambda: "%s to answer; log:\n%s" % (name, self.log()))

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited with %s; log:\n%s" % (self.name, self.proc.returncode,
                                                                  self.log()))
        try:
            status, _ = fetch("GET", self.url + "/api/ping", timeout=1)
            return status == 404
        except OSError:
            return False

    def transfer(self, src, dst, amount, gid=None, timeout=30):
        body = {"from": src, "to": dst, "amount": amount}
        if gid is not None:
            body["gid"] = gid
        return fetch("POST", self.url + "/api/transfer", body, timeout=timeout)

    def query_prepared(self, gid):
        q = urllib.parse.urlencode({"gid": gid, "trans_type": "msg", "branch_id": "00",
                                    "op": "msg"})
        return fetch("GET", self.url + "/api/QueryPrepared?" + q)

    def trans_in(self, gid, user, amount, branch_id="01"):
        q = urllib.parse.urlencode({"gid": gid, "trans_type": "msg", "branch_id": branch_id,
                                    "op": "action"})
        return fetch("POST", self.url + "/api/TransIn?" + q, {"user_id": user, "amount": amount})

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        self.killed = True
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        self.proc.wait(10)

    def stop(self):
        """SIGTERM (a clean stop frees everything: ASan's leak check runs), then SIGKILL."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def sanitizer_report(self):
        lines = self.log().splitlines()
        for i, line in enumerate(lines):
            if any(m in line for m in SANITIZER_MARKS):
                return "\n".join(lines[i:i + 40])
        return ""


class Banks:
    """Factory of Bank processes; close() stops them and fails on sanitizer reports."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.banks = []

    def __call__(self, *args, **kw):
        b = Bank(self.workdir, "bank%d" % len(self.banks), *args, **kw)
        self.banks.append(b)
        return b

    def close(self):
        reports = []
        for b in self.banks:
            b.stop()
            found = b.sanitizer_report()
            if found:
                reports.append("%s (%s):\n%s" % (b.name, b.log_path, found))
            elif not b.killed and b.proc.returncode != 0:
                reports.append("%s exited with %s after SIGTERM (%s):\n%s"
                               % (b.name, b.proc.returncode, b.log_path, b.log()[-3000:]))
        if reports:
            pytest.fail("a bank did not stop cleanly:\n" + "\n".join(reports), pytrace=False)


# --------------------------------------------------------------------------
# a MySQL proxy that can lose a COMMIT
# --------------------------------------------------------------------------

def _is_commit(payload):
    """Whether a client->server packet payload is COM_QUERY "COMMIT" (what mysql_commit sends)."""
    return payload[:1] == b"\x03" and payload[1:].strip().upper() == b"COMMIT"


class MySQLProxy:
    """TCP proxy to MariaDB. arm(mode) applies to the next COMMIT seen on any
    connection, then the proxy passes everything again:
      "drop_before" - close both sides instead of forwarding the COMMIT
                      (the server rolls back; the client sees a lost connection)
      "drop_after"  - forward the COMMIT, swallow the server's OK, close both
                      sides (the server committed; the client sees a lost connection)
      "hold"        - keep the COMMIT until release(); the transaction stays open
    Works because the test server and libmariadb speak plain, uncompressed
    protocol (no TLS) on loopback."""

    def __init__(self, port):
        self.target = ("127.0.0.1", port)
        self.lock = threading.Lock()
        self.mode = None
        self.fired = threading.Event()
        self.released = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def uri(self, user, password, database):
        return "mysql://%s:%s@127.0.0.1:%d/%s" % (user, password, self.port, database)

    def arm(self, mode):
        with self.lock:
            self.mode = mode
            self.fired.clear()
            self.released.clear()

    def release(self):
        self.released.set()

    def _take(self):
        with self.lock:
            mode, self.mode = self.mode, None
            return mode

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(self.target)
            except OSError:
                c.close()
                continue
            state = {"swallow": False}
            with self.lock:
                self.conns += [c, s]
            threading.Thread(target=self._up, args=(c, s, state), daemon=True).start()
            threading.Thread(target=self._down, args=(s, c, state), daemon=True).start()

    @staticmethod
    def _close(*socks):
        for x in socks:
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    @staticmethod
    def _read_exact(sock, n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _up(self, c, s, state):
        """client -> server, one packet at a time (3-byte length, 1-byte sequence, payload)."""
        try:
            while True:
                head = self._read_exact(c, 4)
                if head is None:
                    break
                n = struct.unpack("<I", head[:3] + b"\0")[0]
                payload = self._read_exact(c, n) if n else b""
                if payload is None:
                    break
                mode = self._take() if _is_commit(payload) else None
                if mode == "drop_before":
                    self.fired.set()
                    break
                if mode == "hold":
                    self.fired.set()
                    self.released.wait(30)
                if mode == "drop_after":
                    state["swallow"] = True
                s.sendall(head + payload)
                if mode == "drop_after":
                    self.fired.set()
        except OSError:
            pass
        self._close(c, s)

    def _down(self, s, c, state):
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                if state["swallow"]:
                    break  # the COMMIT's OK: lost on the way back
                c.sendall(data)
        except OSError:
            pass
        self._close(c, s)

    def close(self):
        self.closed = True
        self.released.set()
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        self._close(*conns)


# --------------------------------------------------------------------------
# an HTTP gate in front of the relay
# --------------------------------------------------------------------------

class RelayGate:
    """HTTP proxy to the relay. hold(route, after=False): the next request to
    /api/dtmsvr/<route> is held (after=True: forwarded first, its answer held)
    until release(drop): drop=True closes the connection without an answer.
    `held` is set once the request is being held; `seen` lists routes passed."""

    def __init__(self, relay_port):
        self.relay_port = relay_port
        self.lock = threading.Lock()
        self.rule = None
        self.held = threading.Event()
        self.go = threading.Event()
        self.drop = False
        self.seen = []
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                route = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
                with gate.lock:
                    gate.seen.append(route)
                    rule = gate.rule if gate.rule and gate.rule[0] == route else None
                    if rule:
                        gate.rule = None
                if rule and not rule[1]:
                    gate.held.set()
                    gate.go.wait(30)
                    if gate.drop:
                        self.close_connection = True
                        return
                conn = http.client.HTTPConnection("127.0.0.1", gate.relay_port, timeout=30)
                try:
                    hdrs = {k: v for k, v in self.headers.items()
                            if k.lower() not in ("host", "content-length", "connection")}
                    conn.request(self.command, self.path, body=body, headers=hdrs)
                    resp = conn.getresponse()
                    data = resp.read()
                    status = resp.status
                finally:
                    conn.close()
                if rule and rule[1]:
                    gate.held.set()
                    gate.go.wait(30)
                    if gate.drop:
                        self.close_connection = True
                        return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass  # a killed client mid-request is the point of some tests

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/api/dtmsvr" % self.port
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def hold(self, route, after=False):
        with self.lock:
            self.rule = (route, after)
            self.held.clear()
            self.go.clear()
            self.drop = False

    def release(self, drop=False):
        self.drop = drop
        self.go.set()

    def close(self):
        self.go.set()
        self.server.shutdown()
        self.server.server_close()
