# SPDX-License-Identifier: MIT
"""Redirects answered to step calls and back-checks are followed as Go's http
client (and so DTM) follows them: at most 10, http(s) only, each hop under the
target policy, 307/308 keep the method and the body, 301/302/303 go on as a GET
without a body, and branch_headers are not carried to another host."""
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from e2e_helpers import msg_body, new_gid, wait_for

OK = {"dtm_result": "SUCCESS"}


class Redirector:
    """A loopback server that answers paths in @routes with (status, Location)
    (Location may use {port} and {query}) and everything else with 200."""

    def __init__(self):
        self.routes = {}
        self.calls = []
        self._lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n > 0 else b""
                parts = urllib.parse.urlsplit(self.path)
                with srv._lock:
                    srv.calls.append({"method": self.command, "path": parts.path,
                                      "query": parts.query, "body": body,
                                      "headers": {k.lower(): v for k, v in self.headers.items()}})
                    route = srv.routes.get(parts.path)
                if route is None:
                    out = json.dumps(OK).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                else:
                    status, loc = route
                    out = b""
                    self.send_response(status)
                    self.send_header("Location", loc.format(port=srv.port, query=parts.query))
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def seen(self, path):
        with self._lock:
            return [c for c in self.calls if c["path"] == path]

    def wait(self, path, n=1, timeout=10):
        return wait_for(lambda: self.seen(path) if len(self.seen(path)) >= n else None, timeout,
                        lambda: "%d call(s) to %s, got %r" % (n, path, self.calls))

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def rd():
    s = Redirector()
    try:
        yield s
    finally:
        s.close()


def step_error(r, gid):
    q = r.query(gid)
    return (q["branches"][0].get("last_error") or "") if q.get("branches") else ""


@pytest.mark.parametrize("status", [307, 308])
def test_step_behind_307_308_keeps_method_and_body(rd, relay, status):
    r = relay()
    rd.routes["/old"] = (status, "/new?moved=1")
    gid = new_gid("r%d" % status)
    payload = json.dumps({"amount": 30, "code": status})
    assert r.post("submit", msg_body(gid, [rd.url("/old")], [payload])) == (200, OK)
    r.wait_state(gid, "succeed")
    first = rd.seen("/old")[0]
    assert urllib.parse.parse_qs(first["query"])["gid"] == [gid]
    hop = rd.seen("/new")[0]
    assert hop["method"] == "POST" and hop["body"] == payload.encode(), hop
    assert hop["query"] == "moved=1" and hop["headers"].get("content-type") == "application/json"


@pytest.mark.parametrize("status", [301, 302, 303])
def test_step_behind_301_302_303_goes_on_as_get_without_body(rd, relay, status):
    r = relay()
    rd.routes["/old"] = (status, "http://127.0.0.1:{port}/new")
    gid = new_gid("r%d" % status)
    assert r.post("submit", msg_body(gid, [rd.url("/old")])) == (200, OK)
    r.wait_state(gid, "succeed")
    assert rd.seen("/old")[0]["method"] == "POST"
    hop = rd.seen("/new")[0]
    assert hop["method"] == "GET" and hop["body"] == b"", hop
    assert "content-length" not in hop["headers"] or hop["headers"]["content-length"] == "0"


def test_back_check_behind_trailing_slash_redirect(rd, relay):
    r = relay()
    rd.routes["/qp"] = (301, "/qp/?{query}")
    gid = new_gid("rqp")
    assert r.post("prepare", msg_body(gid, [rd.url("/svc")], query_prepared=rd.url("/qp"),
                                      timeout_to_fail=1)) == (200, OK)
    r.wait_state(gid, "succeed", timeout=15)
    hop = rd.seen("/qp/")[0]
    assert hop["method"] == "GET"
    assert urllib.parse.parse_qs(hop["query"]) == {"gid": [gid], "trans_type": ["msg"],
                                                   "branch_id": ["00"], "op": ["msg"]}
    assert len(rd.seen("/svc")) == 1


def test_redirect_to_a_denied_target_is_refused(rd, relay):
    r = relay()
    rd.routes["/old"] = (307, "http://169.254.169.254/latest/meta-data/")
    gid = new_gid("rdeny")
    assert r.post("submit", msg_body(gid, [rd.url("/old")])) == (200, OK)
    err = wait_for(lambda: step_error(r, gid), 10, "a step error")
    assert "denied by policy" in err and "169.254.169.254" in err, err
    assert r.state(gid) == "submitted"


def test_redirect_to_a_non_http_scheme_is_refused(rd, relay):
    r = relay()
    rd.routes["/old"] = (302, "ftp://127.0.0.1:{port}/x")
    gid = new_gid("rftp")
    assert r.post("submit", msg_body(gid, [rd.url("/old")])) == (200, OK)
    err = wait_for(lambda: step_error(r, gid), 10, "a step error")
    assert "not http(s)" in err, err


def test_redirect_loop_stops_after_ten_hops(rd, relay):
    r = relay(retry_interval=60)
    rd.routes["/loop"] = (302, "/loop")
    gid = new_gid("rloop")
    assert r.post("submit", msg_body(gid, [rd.url("/loop")])) == (200, OK)
    err = wait_for(lambda: step_error(r, gid), 10, "a step error")
    assert "stopped after 10 redirects" in err, err
    # the first request and ten redirects followed: eleven requests for one attempt
    assert len(rd.seen("/loop")) == 11
    assert r.query(gid)["branches"][0]["attempts"] == 1
    assert r.state(gid) == "submitted"


def test_ten_redirects_are_followed(rd, relay):
    r = relay()
    for i in range(10):
        rd.routes["/h%d" % i] = (307, "/h%d" % (i + 1))
    gid = new_gid("rten")
    assert r.post("submit", msg_body(gid, [rd.url("/h0")])) == (200, OK)
    r.wait_state(gid, "succeed")
    assert rd.seen("/h10")[0]["method"] == "POST"


def test_branch_headers_are_not_sent_to_another_host(rd, relay):
    r = relay()
    rd.routes["/same"] = (307, "/same2")
    rd.routes["/same2"] = (307, "http://localhost:{port}/other")
    gid = new_gid("rhdr")
    assert r.post("submit", msg_body(gid, [rd.url("/same")],
                                     branch_headers={"Authorization": "Bearer s3cret",
                                                     "X-Tenant": "t1"})) == (200, OK)
    r.wait_state(gid, "succeed")
    assert rd.seen("/same")[0]["headers"].get("authorization") == "Bearer s3cret"
    assert rd.seen("/same2")[0]["headers"].get("authorization") == "Bearer s3cret"
    other = rd.seen("/other")[0]
    assert "authorization" not in other["headers"] and "x-tenant" not in other["headers"], other
    assert other["headers"].get("content-type") == "application/json"
