# SPDX-License-Identifier: MIT
"""Connection limits and fair outbound calls: what a slow or greedy client, or a
hanging destination, can no longer take from everyone else.

Inbound: a header or a chunked body trickled a byte at a time is cut at its
deadline (--header-timeout, --body-timeout); a Content-Length over --max-body is
answered 413 before any "100 Continue"; idle connections from one address stop
at --max-clients-per-ip; under a low open-files limit idle inbound clients do not
starve outbound calls. Outbound: a hanging destination holds at most its share of
connections (--max-connections-per-target) and of --max-inflight; a message's
request_timeout is capped (--max-request-timeout) and no call outlives the lease.
"""
import json
import os
import socket
import subprocess
import threading
import time

from conftest import free_port, relay_binary
from e2e_helpers import msg_body, new_gid, stays, wait_for

OK = {"dtm_result": "SUCCESS"}


class HangServer:
    """An HTTP destination that reads requests and never answers. It records each
    connection's open and close time (monotonic), so a test sees when the relay
    gave up on a call and how many calls were open at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._conns = []        # [socket, t_open, t_close or None]
        self.max_open = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(256)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self._sock.accept()
            except OSError:
                return
            rec = [c, time.monotonic(), None]
            with self._lock:
                self._conns.append(rec)
                self.max_open = max(self.max_open, self.open_now_locked())
            threading.Thread(target=self._read, args=(rec,), daemon=True).start()

    def _read(self, rec):
        try:
            while rec[0].recv(65536):
                pass
        except OSError:
            pass
        with self._lock:
            rec[2] = time.monotonic()

    def open_now_locked(self):
        return sum(1 for r in self._conns if r[2] is None)

    def open_now(self):
        with self._lock:
            return self.open_now_locked()

    def conns(self):
        """[(t_open, t_close or None)] in accept order."""
        with self._lock:
            return [(r[1], r[2]) for r in self._conns]

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self._sock.close()
        with self._lock:
            for r in self._conns:
                try:
                    r[0].close()
                except OSError:
                    pass


def connect(r, source="127.0.0.1"):
    return socket.create_connection(("127.0.0.1", r.port), timeout=10,
                                    source_address=(source, 0))


def closed_after(s, feed, step=0.2, limit=15):
    """Send feed() every @step s until the peer closes the connection; return
    (seconds until then, bytes received meanwhile)."""
    t0 = time.monotonic()
    got = b""
    s.settimeout(step)
    while time.monotonic() - t0 < limit:
        try:
            s.sendall(feed())
        except OSError:
            return time.monotonic() - t0, got
        try:
            d = s.recv(4096)
            if not d:
                return time.monotonic() - t0, got
            got += d
        except socket.timeout:
            pass
        except OSError:
            return time.monotonic() - t0, got
    raise AssertionError("connection still open after %ss (received %r)" % (limit, got))


def submit(r, body):
    status, data = r.post("submit", body)
    assert (status, data) == (200, OK), (status, data)


# ---- inbound ----

def test_trickled_header_is_cut_at_the_header_deadline(relay):
    r = relay(header_timeout=2, body_timeout=4)
    s = connect(r)
    try:
        s.sendall(b"GET /api/ping HTTP/1.1\r\nHost: x\r\n")
        took, got = closed_after(s, lambda: b"X")
    finally:
        s.close()
    assert got == b"", "a request whose headers never ended was answered: %r" % got
    assert 1.5 <= took <= 3.5, "header trickle cut after %.1fs, not at --header-timeout 2" % took
    # an honest client still gets in
    assert r.get("/api/ping")[0] == 200


def test_trickled_chunked_body_is_cut_at_the_body_deadline(relay):
    r = relay(header_timeout=2, body_timeout=3)
    gid = new_gid("trickle")
    start = ('{"gid":"%s",' % gid).encode()
    s = connect(r)
    try:
        s.sendall(b"POST /api/dtmsvr/submit HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"%x\r\n%s\r\n" % (len(start), start))
        took, got = closed_after(s, lambda: b"1\r\n \r\n", step=0.3)
    finally:
        s.close()
    assert got == b"", "an unfinished body was answered: %r" % got
    assert 2.5 <= took <= 4.5, "body trickle cut after %.1fs, not at --body-timeout 3" % took
    assert r.query(gid)["transaction"] is None


def test_idle_keep_alive_connection_is_closed_at_the_header_deadline(relay):
    r = relay(header_timeout=2, body_timeout=4)
    s = connect(r)
    try:
        s.sendall(b"GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        assert s.recv(4096) == b""
        idle = time.monotonic() - t0
    finally:
        s.close()
    assert 1.5 <= idle <= 3.5, "idle keep-alive connection closed after %.1fs" % idle


def test_content_length_over_max_body_gets_413_without_100_continue(relay):
    r = relay()
    s = connect(r)
    try:
        s.sendall(b"POST /api/dtmsvr/submit HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 67108864\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        s.settimeout(5)
        head = b""
        while b"\r\n\r\n" not in head:
            d = s.recv(4096)
            assert d, "closed without an answer: %r" % head
            head += d
    finally:
        s.close()
    assert not head.startswith(b"HTTP/1.1 100"), "64 MiB announced, and told to send it: %r" % head
    assert head.startswith(b"HTTP/1.1 413"), head
    body = head.split(b"\r\n\r\n", 1)[1]
    if body:
        assert json.loads(body.decode()).get("message", "").startswith("body:"), body


def test_idle_connections_from_one_address_leave_room_for_others(relay):
    r = relay(max_clients=60, max_clients_per_ip=20, header_timeout=30, body_timeout=30)
    idle = []
    try:
        for _ in range(100):
            idle.append(connect(r, "127.0.0.1"))

        def still_open():
            n = 0
            for s in idle:
                s.setblocking(False)
                try:
                    if s.recv(1) != b"":
                        n += 1
                except BlockingIOError:
                    n += 1
                except OSError:
                    pass
            return n
        wait_for(lambda: still_open() <= 20, 5,
                 lambda: "at most 20 connections from 127.0.0.1 (%d open)" % still_open())
        # a client from another address is served at once
        t0 = time.monotonic()
        s = connect(r, "127.0.0.2")
        try:
            s.sendall(b"GET /api/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.settimeout(3)
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
        finally:
            s.close()
        assert time.monotonic() - t0 < 2
    finally:
        for s in idle:
            s.close()


def test_idle_inbound_clients_do_not_starve_outbound_calls(app, relay):
    """Under `ulimit -n 256`, 300 idle clients: the inbound cap is fitted to the
    limit, so the relay still has sockets for its calls."""
    r = relay(start=False, max_connections=32, shutdown_grace=1)
    r.argv = ["prlimit", "--nofile=256:256", "--"] + r.argv
    r.start()
    gid = new_gid("fd")
    submit(r, msg_body(gid, [app.url("/svc/fd")], custom_data=json.dumps({"delay": 2})))
    idle = []
    try:
        t0 = time.monotonic()
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", r.port), timeout=10))
        # the call is listed as it arrives and completed once answered: wait for the answer
        wait_for(lambda: any(c.completed for c in app.calls("/svc/fd")), 8,
                 "a completed call to /svc/fd")
        assert time.monotonic() - t0 < 8
    finally:
        for s in idle:
            s.close()
    r.wait_state(gid, "succeed")
    assert "--max-clients lowered to fit the open-files limit" in r.log_tail(400)


# ---- outbound ----

def test_healthy_target_is_not_stuck_behind_a_hanging_one(app, relay):
    """--max-connections 4: a hanging host gets a quarter (one connection); a
    message to a healthy host is delivered at once."""
    hang = HangServer()
    try:
        r = relay(max_connections=4, shutdown_grace=1)
        for _ in range(6):
            submit(r, msg_body(new_gid("hang"), [hang.url("/hang")], request_timeout=20))
        wait_for(lambda: hang.open_now() >= 1, 5, "the hanging host to be called")
        gid = new_gid("ok")
        t0 = time.monotonic()
        submit(r, msg_body(gid, [app.url("/svc/ok")]))
        r.wait_state(gid, "succeed", timeout=5)
        assert time.monotonic() - t0 < 3
        assert hang.max_open == 1, "the hanging host held %d connections" % hang.max_open
    finally:
        hang.close()


def test_inflight_full_of_a_hanging_target_lets_a_healthy_message_through(app, relay):
    """--max-inflight 3, all three passes on a hanging host: the calls waiting for
    it are not made once it is stalled (--request-timeout 2 without an answer), so
    the healthy message is claimed and delivered within seconds, not after 20."""
    hang = HangServer()
    try:
        r = relay(max_connections=4, max_inflight=3, shutdown_grace=1)
        for _ in range(3):
            submit(r, msg_body(new_gid("hang"), [hang.url("/hang")], request_timeout=20))
        wait_for(lambda: hang.open_now() >= 1, 5, "the hanging host to be called")
        gid = new_gid("ok")
        t0 = time.monotonic()
        submit(r, msg_body(gid, [app.url("/svc/ok")]))
        r.wait_state(gid, "succeed", timeout=8)
        assert time.monotonic() - t0 < 6
        assert hang.open_now() == 1, "the hanging call should still be open"
    finally:
        hang.close()


def test_request_timeout_is_capped_by_max_request_timeout(relay):
    hang = HangServer()
    try:
        r = relay(max_request_timeout=2, lease=10, shutdown_grace=1)
        gid = new_gid("cap")
        submit(r, msg_body(gid, [hang.url("/hang")], request_timeout=31622400, retry_interval=5))
        wait_for(lambda: any(c[1] is not None for c in hang.conns()), 6,
                 "the 366-day call to be cut")
        opened, closed = hang.conns()[0]
        assert 1.5 <= closed - opened <= 3.5, "call cut after %.1fs, not at 2" % (closed - opened)
        # the relay writes the result in its next group commit, moments after the cut
        wait_for(lambda: "timed out" in (r.query(gid)["branches"][0].get("last_error") or ""),
                 5, lambda: "the timeout recorded: %r" % r.query(gid)["branches"][0])
    finally:
        hang.close()


def test_hanging_call_is_not_made_again_each_lease(relay):
    """--lease 3: the call is cut before its lease ends and never runs twice at once
    (the relay used to claim its own lapsed lease and call again)."""
    hang = HangServer()
    try:
        r = relay(lease=3, request_timeout=1, retry_interval=3, shutdown_grace=1)
        submit(r, msg_body(new_gid("lease"), [hang.url("/hang")], request_timeout=100,
                           retry_interval=3))
        wait_for(lambda: hang.conns(), 5, "the call")
        stays(lambda: hang.max_open <= 1, 7,
              lambda: "one call open at a time (%d at once: %r)" % (hang.max_open, hang.conns()))
        conns = hang.conns()
        for opened, closed in conns[:-1]:
            assert closed is not None and closed - opened <= 2.5, conns
    finally:
        hang.close()


def test_max_request_timeout_must_be_shorter_than_the_lease(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    base = [relay_binary(), "serve", "--port", str(free_port()), "--bind", "127.0.0.1",
            "--store", "sqlite:" + str(tmp_path / "r.db")]
    out = subprocess.run(base + ["--lease", "10", "--max-request-timeout", "10"],
                         env=env, capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and "--max-request-timeout" in out.stderr, out.stderr
    out = subprocess.run(base + ["--header-timeout", "10", "--body-timeout", "5"],
                         env=env, capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and "--body-timeout" in out.stderr, out.stderr
