# SPDX-License-Identifier: MIT
"""Outbound hygiene: what the relay sends, and what it shows of it.

  - branch_headers may not set framing, hop-by-hop or routing headers, nor
    carry control bytes: 400 naming the header, nothing stored; a row stored
    before that rule is never sent with the bad header (the step fails with
    the rule's text instead);
  - no connection is reused after an answer that may have left it out of
    step with the target;
  - credentials in URLs (userinfo) are still used for the call (basic auth)
    but shown as *** in /query, /all, the topic listings, stored error texts
    and the relay's log;
  - branch_headers values (often credentials) are sent as given but shown as
    *** in /query and /all.
"""
import base64
import json
import socket
import sqlite3
import threading
import time

import pytest

from e2e_helpers import msg_body, new_gid, wait_for

SECRET = "s3cr3t-pw"


def assert_refused(r, route, body, field, gid, words=()):
    status, data = r.post(route, body)
    assert status == 400, "expected 400, got %s %r" % (status, data)
    assert data.get("dtm_result") == "FAILURE", data
    msg = data.get("message") or ""
    assert msg.startswith(field + ":"), "message should start with %r: %r" % (field + ":", msg)
    for w in words:
        assert w in msg, "message should name %r: %r" % (w, msg)
    assert r.query(gid) == {"branches": [], "transaction": None}, "something was stored"


# ---------------------------------------------------------------- branch_headers

SMUGGLED = ("POST /smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")

RESERVED = ["Content-Length", "content-length", "Transfer-Encoding", "Host", "HOST", "Connection",
            "Keep-Alive", "Upgrade", "TE", "Trailer", "Expect", "Proxy-Authorization",
            "Proxy-Connection"]


@pytest.mark.parametrize("route", ["prepare", "submit"])
def test_smuggling_through_content_length_is_refused(relay, app, route):
    r = relay()
    gid = new_gid("smuggle")
    body = msg_body(gid, [app.url("/svc/a")], [SMUGGLED],
                    branch_headers={"Content-Length": "0"})
    assert_refused(r, route, body, "branch_headers", gid, ["Content-Length"])
    assert app.count() == 0


@pytest.mark.parametrize("name", RESERVED)
def test_framing_hop_by_hop_and_routing_headers_are_refused(relay, app, name):
    r = relay()
    gid = new_gid("hdr")
    body = msg_body(gid, [app.url("/svc/a")], branch_headers={"X-Ok": "1", name: "v"})
    assert_refused(r, "submit", body, "branch_headers", gid, [name])


@pytest.mark.parametrize("value", ["a\x01b", "a\x0bb", "a\x7fb", "a\rb", "a\nb", "caf\u00e9",
                                   "a\x00b"],
                         ids=["soh", "vt", "del", "cr", "lf", "non-ascii", "nul"])
def test_control_bytes_and_non_ascii_in_values_are_refused(relay, app, value):
    r = relay()
    gid = new_gid("ctl")
    body = msg_body(gid, [app.url("/svc/a")], branch_headers={"X-Trace": value})
    assert_refused(r, "prepare", body, "branch_headers", gid, ["X-Trace"])


@pytest.mark.parametrize("name", ["X Trace", "X:Trace", "X\tT", "", "X(T)"])
def test_header_names_must_be_tokens(relay, app, name):
    r = relay()
    gid = new_gid("name")
    body = msg_body(gid, [app.url("/svc/a")], branch_headers={name: "v"})
    assert_refused(r, "prepare", body, "branch_headers", gid)


def test_too_many_or_too_large_branch_headers_are_refused(relay, app):
    r = relay()
    gid = new_gid("many")
    body = msg_body(gid, [app.url("/svc/a")],
                    branch_headers={"X-%d" % i: "v" for i in range(65)})
    assert_refused(r, "prepare", body, "branch_headers", gid)
    body = msg_body(gid, [app.url("/svc/a")],
                    branch_headers={"X-%d" % i: "v" * 4000 for i in range(5)})
    assert_refused(r, "prepare", body, "branch_headers", gid)


def test_ordinary_branch_headers_still_go_out(relay, app):
    r = relay()
    gid = new_gid("okhdr")
    hdrs = {"X-Trace": "t 1\tz", "Authorization": "Bearer abc", "Content-Type": "text/plain"}
    assert r.post("submit", msg_body(gid, [app.url("/svc/a")], branch_headers=hdrs))[0] == 200
    c = app.wait_calls("/svc/a", 1)[0]
    assert c.headers.get("x-trace") == "t 1\tz"
    assert c.headers.get("authorization") == "Bearer abc"
    assert c.headers.get("content-type") == "text/plain"
    r.wait_state(gid, "succeed")


def _set_branch_headers(r, gid, text):
    """Write @text as @gid's stored branch_headers, straight into r's store (r is stopped)."""
    store = r.argv[r.argv.index("--store") + 1]
    if store.startswith("sqlite:"):
        con = sqlite3.connect(store[len("sqlite:"):])
        with con:
            n = con.execute("UPDATE msg SET branch_headers = ? WHERE gid = ?", (text, gid)).rowcount
        con.close()
        assert n == 1
        return
    import conftest  # MSGRELAY_E2E_STORE=mysql or postgres: the session's server
    db = conftest._E2E_MARIADB[0]
    if store.startswith("postgres"):
        quoted = text.replace("'", "''")
    else:
        quoted = text.replace("\\", "\\\\").replace("'", "\\'")
    db.sql("UPDATE msg SET branch_headers = '%s' WHERE gid = '%s'" % (quoted, gid),
           store.rsplit("/", 1)[1].split("?")[0])


@pytest.mark.parametrize("bad", [{"Content-Length": "0"}, {"Host": "elsewhere"},
                                 {"X-Trace": "a\x01b"}], ids=["content-length", "host", "ctl"])
def test_a_row_stored_before_the_rule_is_not_sent(relay, app, bad):
    r = relay()
    gid = new_gid("old")
    body = msg_body(gid, [app.url("/svc/old")], [SMUGGLED], branch_headers={"X-Trace": "1"},
                    timeout_to_fail=3600)
    assert r.post("prepare", body)[0] == 200
    r.stop()
    _set_branch_headers(r, gid, json.dumps(bad))
    r.start()
    assert r.post("submit", {"gid": gid, "trans_type": "msg"})[0] == 200
    name = list(bad)[0]

    def refused():
        b = r.query(gid)["branches"]
        err = b[0].get("last_error") or "" if b else ""
        return err if "branch_headers" in err and name in err else None
    err = wait_for(refused, 10, lambda: "a step error naming %r: %r" % (name, r.query(gid)))
    assert err.startswith("step 01: "), err
    assert app.count() == 0, "the call went out: %r" % app.calls()
    assert r.state(gid) == "submitted"


class DesyncServer:
    """A raw HTTP/1.1 target that goes out of step with its client, as careless
    servers do: on /skip it answers 400 without reading the request body, then
    parses that body as a next request on the same connection (answering it
    after a short pause); on /fail it answers 409 FAILURE. Records every
    request line as (connection number, line)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.seen = []
        self.conns = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                n = self.conns
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _serve(self, c, n):
        f = c.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                line = line.decode("latin-1").strip()
                if not line:
                    continue
                length = 0
                while True:
                    h = f.readline().decode("latin-1").strip()
                    if not h:
                        break
                    k, _, v = h.partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v.strip())
                with self.lock:
                    self.seen.append((n, line))
                path = line.split(" ")[1].split("?")[0]
                if path == "/skip":
                    c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    continue  # the body is left to be read as the next request
                if length:
                    f.read(length)
                if path == "/smuggled":
                    time.sleep(0.3)
                    body = b'{"dtm_result":"SUCCESS"}'
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                              % (len(body), body))
                elif path == "/fail":
                    body = b'{"dtm_result":"FAILURE"}'
                    c.sendall(b"HTTP/1.1 409 Conflict\r\nContent-Length: %d\r\n\r\n%s"
                              % (len(body), body))
                else:
                    c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            return
        finally:
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()


def test_no_connection_is_reused_after_an_answer_that_may_be_out_of_step(relay):
    """One connection in all: the message after a 400 that left its body unread
    must not read the answer to that body as its own."""
    srv = DesyncServer()
    try:
        r = relay(max_connections=1)
        a = new_gid("desync-a")
        b = new_gid("desync-b")
        assert r.post("submit", msg_body(a, [srv.url("/skip")], [SMUGGLED]))[0] == 200
        assert r.post("submit", msg_body(b, [srv.url("/fail")]))[0] == 200

        def answered():
            br = r.query(b)["branches"]
            return br and br[0].get("attempts", 0) >= 1 and br[0]
        step = wait_for(answered, 10, lambda: "an attempt of %s: %r" % (b, r.query(b)))
        assert step["status"] != "succeed", \
            "the answer to the smuggled request was taken for %s's: %r (server saw %r)" \
            % (b, step, srv.seen)
        assert "409" in (step.get("last_error") or ""), step
        with srv.lock:
            conn_of = {line.split(" ")[1].split("?")[0]: n for n, line in srv.seen}
        assert conn_of["/fail"] != conn_of["/skip"], srv.seen
    finally:
        srv.close()


# ---------------------------------------------------------------- URL credentials

def _cred_url(app, path):
    return "http://relay-user:%s@127.0.0.1:%d%s" % (SECRET, app.port, path)


def _masked_url(app, path):
    return "http://***@127.0.0.1:%d%s" % (app.port, path)


def test_url_credentials_are_used_but_never_shown(relay, app):
    r = relay()
    gid = new_gid("cred")
    app.queue("/svc/bad", 500, "upstream said: see http://relay-user:%s@db.internal/x" % SECRET)
    body = msg_body(gid, [_cred_url(app, "/svc/a"), _cred_url(app, "/svc/bad")],
                    query_prepared=_cred_url(app, "/qp"))
    assert r.post("submit", body)[0] == 200
    c = app.wait_calls("/svc/a", 1)[0]
    expect = "Basic " + base64.b64encode(("relay-user:" + SECRET).encode()).decode()
    assert c.headers.get("authorization") == expect, c.headers
    # the second step fails once (500, its body quoting a URL with a password), then succeeds
    r.wait_state(gid, "succeed", timeout=15)
    assert app.count("/svc/bad") == 2

    for text in (json.dumps(r.query(gid)), json.dumps(r.all(limit=100))):
        assert SECRET not in text, "a password is shown: %s" % text
        assert "relay-user" not in text, text
    q = r.query(gid)
    t = q["transaction"]
    assert [s["action"] for s in t["steps"]] == [_masked_url(app, "/svc/a"),
                                                 _masked_url(app, "/svc/bad")]
    assert t["query_prepared"] == _masked_url(app, "/qp")
    assert [b["url"] for b in q["branches"]] == [_masked_url(app, "/svc/a"),
                                                 _masked_url(app, "/svc/bad")]
    # the stored error text of the failed attempt quoted a URL: masked in the store already
    assert "http://***@db.internal/x" in q["branches"][1]["last_error"], q["branches"][1]
    with open(r.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert "http://***@db.internal/x" in log, "the failed attempt was not logged"
    assert SECRET not in log, "the relay log shows a password"


def test_branch_header_values_are_sent_but_never_shown(relay, app):
    r = relay()
    gid = new_gid("hdr")
    token = "Bearer " + SECRET
    body = msg_body(gid, [app.url("/svc/a")],
                    branch_headers={"Authorization": token, "X-Tenant": "t-9"})
    assert r.post("submit", body)[0] == 200
    c = app.wait_calls("/svc/a", 1)[0]
    assert c.headers.get("authorization") == token, c.headers
    assert c.headers.get("x-tenant") == "t-9", c.headers
    r.wait_state(gid, "succeed", timeout=15)
    for text in (json.dumps(r.query(gid)), json.dumps(r.all(limit=100))):
        assert SECRET not in text, "a header value is shown: %s" % text
    t = r.query(gid)["transaction"]
    assert t["branch_headers"] == {"Authorization": "***", "X-Tenant": "***"}, t
    assert SECRET not in t["options"] and '"Authorization":"***"' in t["options"], t["options"]


def test_failed_call_error_texts_are_masked(relay, app):
    r = relay()
    gid = new_gid("credfail")
    url = "http://relay-user:%s@127.0.0.1:9/never" % SECRET  # nothing listens on port 9
    assert r.post("submit", msg_body(gid, [url]))[0] == 200

    def failed():
        b = r.query(gid)["branches"]
        return b and b[0].get("attempts", 0) >= 1 and b[0].get("last_error")
    wait_for(failed, 10, "a failed attempt")
    text = json.dumps(r.query(gid)) + json.dumps(r.all(limit=100))
    assert SECRET not in text and "http://***@127.0.0.1:9/never" in text, text
    with open(r.log_path, encoding="utf-8", errors="replace") as f:
        assert SECRET not in f.read()


def test_subscriber_url_credentials_are_masked_in_topic_listings(relay, app):
    r = relay()
    url = _cred_url(app, "/sub")
    status, data = r.get("subscribe", {"topic": "orders", "url": url, "remark": "r"})
    assert status == 200, data
    gid = new_gid("topic")
    assert r.post("submit", msg_body(gid, ["topic://orders"]))[0] == 200
    c = app.wait_calls("/sub", 1)[0]
    assert c.headers.get("authorization", "").startswith("Basic ")
    r.wait_state(gid, "succeed")
    status, kv = r.get("queryKV", {"cat": "topics", "key": "orders"})
    assert status == 200, kv
    status, scan = r.get("scanKV", {"cat": "topics"})
    assert status == 200, scan
    for text in (json.dumps(kv), json.dumps(scan), json.dumps(r.query(gid))):
        assert SECRET not in text, text
    subs = json.loads(kv["kv"][0]["v"])
    assert subs == [{"url": _masked_url(app, "/sub"), "remark": "r"}], subs
    # the stored URL keeps its credentials: unsubscribing by it still works
    status, data = r.get("unsubscribe", {"topic": "orders", "url": url})
    assert status == 200, data
