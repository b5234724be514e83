# SPDX-License-Identifier: MIT
"""The target policy (--allow-targets / --deny-targets): where outbound calls
may go. Checked on the URL at intake (400 naming the field, nothing stored)
for step URLs, query_prepared and topic subscribers, and again on the
resolved address when the relay connects (a refused connect is a call error
naming the address)."""
import json
import os
import subprocess

import pytest

from conftest import relay_binary
from e2e_helpers import msg_body, new_gid, wait_for

DENIED = "target denied by policy"


def assert_denied(r, route, body, field, gid):
    status, data = r.post(route, body)
    assert status == 400, "expected 400, got %s %r" % (status, data)
    assert data.get("dtm_result") == "FAILURE", data
    assert data.get("message") == "%s: %s" % (field, DENIED), data
    assert r.query(gid) == {"branches": [], "transaction": None}, "something was stored"


def assert_accepted(r, body):
    status, data = r.post("prepare", body)
    assert status == 200, "expected 200, got %s %r" % (status, data)


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://2852039166/latest/meta-data/",
                                 "http://[fe80::1]/x", "http://[::ffff:169.254.169.254]/x",
                                 "http://metadata.google.internal/computeMetadata/v1/",
                                 "http://METADATA.google.internal./x",
                                 "http://[fd00:ec2::254]/latest"])
def test_default_deny_list_refuses_link_local_and_metadata(relay, url):
    r = relay()
    gid = new_gid("meta")
    assert_denied(r, "prepare", msg_body(gid, [url]), "steps[0].action", gid)
    assert_denied(r, "submit", msg_body(gid, ["http://127.0.0.1:9/ok", url]), "steps[1].action",
                  gid)
    assert_denied(r, "prepare", msg_body(gid, ["http://127.0.0.1:9/ok"], query_prepared=url),
                  "query_prepared", gid)
    status, data = r.get("subscribe", {"topic": "t1", "url": url})
    assert (status, data.get("message")) == (400, "url: " + DENIED), data


def test_deny_list_names_suffixes_cidrs_and_prefixes(relay, app):
    r = relay(deny_targets="blocked.test,*.corp.test,10.0.0.0/8,fd00::/8,"
                           "http://127.0.0.1:%d/admin/" % app.port)
    for i, url in enumerate(["http://blocked.test/x", "https://a.b.corp.test/x",
                             "http://10.1.2.3:8080/x", "http://[fd12::1]/x",
                             app.url("/admin/users")]):
        gid = new_gid("deny%d" % i)
        assert_denied(r, "prepare", msg_body(gid, [url]), "steps[0].action", gid)
    # the defaults still hold when --deny-targets adds entries
    gid = new_gid("deny-meta")
    assert_denied(r, "prepare", msg_body(gid, ["http://169.254.169.254/"]), "steps[0].action", gid)
    # near misses pass
    for url in ["http://corp.test/x", "http://notblocked.test/x", "http://11.0.0.1/x",
                app.url("/administrator"), app.url("/svc/a")]:
        assert_accepted(r, msg_body(new_gid("ok"), [url]))


def test_not_defaults_drops_the_default_deny_list(relay):
    r = relay(deny_targets="!defaults,blocked.test")
    assert_accepted(r, msg_body(new_gid("meta"), ["http://169.254.169.254/x"]))
    gid = new_gid("still")
    assert_denied(r, "prepare", msg_body(gid, ["http://blocked.test/x"]), "steps[0].action", gid)


def test_allow_list_admits_only_what_it_names(relay, app):
    r = relay(allow_targets="http://127.0.0.1:%d/svc/,*.allowed.test" % app.port,
              deny_targets="deny.allowed.test")
    gid = new_gid("allow")
    body = msg_body(gid, [app.url("/svc/a"), "http://x.allowed.test/y"],
                    query_prepared=app.url("/svc/qp"))
    assert_accepted(r, body)
    for i, url in enumerate([app.url("/other"), "http://127.0.0.1:%d/svc/" % (app.port + 1),
                             "http://elsewhere.test/svc/", "http://deny.allowed.test/x",
                             "http://127.0.0.2/x"]):
        gid = new_gid("notallowed%d" % i)
        assert_denied(r, "prepare", msg_body(gid, [url]), "steps[0].action", gid)
    gid = new_gid("qp")
    assert_denied(r, "prepare", msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp")),
                  "query_prepared", gid)
    status, data = r.get("subscribe", {"topic": "t1", "url": app.url("/hook")})
    assert (status, data.get("message")) == (400, "url: " + DENIED), data
    status, data = r.get("subscribe", {"topic": "t1", "url": app.url("/svc/hook")})
    assert status == 200, data
    # an allowed message is delivered
    gid = new_gid("deliver")
    assert r.post("submit", msg_body(gid, [app.url("/svc/d")]))[0] == 200
    r.wait_state(gid, "succeed")


def _step_error(r, gid, words):
    def check():
        b = r.query(gid)["branches"]
        err = (b[0].get("last_error") or "") if b else ""
        return err if all(w in err for w in words) else None
    return wait_for(check, 10, lambda: "a step error with %r: %r" % (words, r.query(gid)))


def test_connect_time_check_refuses_a_name_resolving_to_a_denied_address(relay, app):
    # "localhost" passes intake (no DNS there); it resolves to 127.0.0.1, which is denied
    r = relay(deny_targets="127.0.0.1/32,::1")
    gid = new_gid("dns")
    url = "http://localhost:%d/svc/a" % app.port
    assert r.post("submit", msg_body(gid, [url]))[0] == 200
    err = _step_error(r, gid, ["target address", "denied by policy"])
    assert err.startswith("step 01: target address "), err
    assert app.count() == 0
    assert r.state(gid) == "submitted"


def test_connect_time_check_applies_to_back_checks(relay, app):
    r = relay(deny_targets="127.0.0.1/32,::1", timeout_to_fail=1)
    gid = new_gid("dnsqp")
    body = msg_body(gid, ["http://localhost:%d/svc/a" % app.port],
                    query_prepared="http://localhost:%d/qp" % app.port, timeout_to_fail=1)
    assert r.post("prepare", body)[0] == 200

    def refused():
        t = r.query(gid)["transaction"]
        return t and "denied by policy" in (t.get("result") or "")
    wait_for(refused, 15, lambda: "a back-check refused by the policy: %r" % r.query(gid))
    assert app.count() == 0
    assert r.state(gid) == "prepared"


def test_allow_cidr_decides_for_host_names_when_connecting(relay, app):
    r = relay(allow_targets="127.0.0.1/32")
    ok = new_gid("cidr-ok")
    assert r.post("submit", msg_body(ok, ["http://localhost:%d/svc/a" % app.port]))[0] == 200
    r.wait_state(ok, "succeed")
    assert app.count("/svc/a") == 1
    r2 = relay(allow_targets="10.0.0.0/8")
    no = new_gid("cidr-no")
    assert r2.post("submit", msg_body(no, ["http://localhost:%d/svc/b" % app.port]))[0] == 200
    # libcurl resolves localhost to 127.0.0.1 and ::1 itself; the first refused one is named
    err = _step_error(r2, no, ["target address ", " denied by policy"])
    assert err in ("step 01: target address 127.0.0.1 denied by policy",
                   "step 01: target address ::1 denied by policy"), err
    assert app.count("/svc/b") == 0


@pytest.mark.parametrize("flag,value", [("--deny-targets", "10.0.0.0/33"),
                                        ("--deny-targets", "bad host"),
                                        ("--allow-targets", "ftp://x/"),
                                        ("--allow-targets", "http://u:p@x/"),
                                        ("--allow-targets", "*.")])
def test_invalid_entries_stop_the_start(tmp_path, flag, value):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([relay_binary(), "serve", "--port", "1", "--bind", "127.0.0.1",
                        "--store", "sqlite:" + str(tmp_path / "r.db"), flag, value],
                       capture_output=True, text=True, timeout=20, env=env)
    assert p.returncode != 0
    assert flag in p.stderr and "is not a host name" in p.stderr, p.stderr


def test_a_message_stored_before_the_policy_is_refused_per_call(relay, app):
    # stored by a relay without the policy, delivered by one with it: refused before
    # sending, even over a kept-alive connection to the same host and port
    r = relay()
    gid = new_gid("before")
    body = msg_body(gid, [app.url("/svc/admin/x")], timeout_to_fail=3600)
    assert r.post("prepare", body)[0] == 200
    r.stop()
    store = r.argv[r.argv.index("--store") + 1]
    r2 = relay(store=store, deny_targets="http://127.0.0.1:%d/svc/admin/" % app.port)
    ok = new_gid("warm")
    assert r2.post("submit", msg_body(ok, [app.url("/svc/ok")]))[0] == 200
    r2.wait_state(ok, "succeed")
    assert r2.post("submit", {"gid": gid, "trans_type": "msg"})[0] == 200
    err = _step_error(r2, gid, [DENIED])
    assert err == "step 01: " + DENIED, err
    assert app.count("/svc/admin/x") == 0
    assert r2.state(gid) == "submitted"
