# SPDX-License-Identifier: MIT
"""Bad requests get 400 {"dtm_result":"FAILURE","message":"<field>: <problem>"}
and store nothing; what is merely extra (unknown keys, nulls) is accepted."""
import json

import pytest

from e2e_helpers import msg_body, new_gid

MAX_STEPS = 3
DEAD = "http://127.0.0.1:9/never"  # discard port: nothing listens


@pytest.fixture(scope="module")
def vrelay(module_relay_factory):
    """One relay for the whole module, with --max-steps 3."""
    return module_relay_factory(max_steps=MAX_STEPS)


def count_all(r):
    data = r.all(limit=1000)
    return len(data["transactions"]), [t["gid"] for t in data["transactions"]]


def assert_rejected(r, route, body, field, gid=None, code=400):
    before, _ = count_all(r)
    status, data = r.post(route, body)
    assert status == code, "expected %d for bad %s, got %s %r" % (code, field, status, data)
    assert isinstance(data, dict), data
    assert data.get("dtm_result") == "FAILURE", data
    msg = data.get("message")
    assert isinstance(msg, str) and msg.startswith(field + ":"), \
        "message should start with %r: %r" % (field + ":", msg)
    assert len(msg) > len(field) + 2, "message names no problem: %r" % msg
    if gid:
        assert r.query(gid) == {"branches": [], "transaction": None}, "something was stored"
    after, gids = count_all(r)
    assert after == before, "a rejected request stored a row: %r" % gids[:5]


def base(gid):
    return msg_body(gid, [DEAD], ['{"a":1}'])


def _set(key, value):
    def f(b):
        b[key] = value
    return f


def _del(key):
    def f(b):
        b.pop(key, None)
    return f


def _step(i, action):
    def f(b):
        while len(b["steps"]) <= i:
            b["steps"].append({"action": DEAD})
            b["payloads"].append("{}")
        b["steps"][i] = {"action": action}
    return f


def _nsteps(n):
    def f(b):
        b["steps"] = [{"action": DEAD} for _ in range(n)]
        b["payloads"] = ["{}"] * n
    return f


# (id, field, mutation, gid is queryable afterwards)
CASES = [
    ("empty-gid", "gid", _set("gid", ""), False),
    ("missing-gid", "gid", _del("gid"), False),
    ("gid-129-chars", "gid", _set("gid", "g" * 129), True),
    ("gid-with-newline", "gid", _set("gid", "a\nb"), False),
    ("gid-with-semicolon", "gid", _set("gid", "a;b"), True),
    ("gid-with-escape", "gid", _set("gid", "a\x1b[31mb"), False),
    ("gid-not-string", "gid", _set("gid", 12345), False),
    ("trans-type-saga", "trans_type", _set("trans_type", "saga"), True),
    ("no-steps", "steps", _del("steps"), True),
    ("empty-steps", "steps", lambda b: b.update(steps=[], payloads=[]), True),
    ("steps-not-array", "steps", _set("steps", {"action": DEAD}), True),
    ("payloads-shorter", "payloads", lambda b: b.update(steps=[{"action": DEAD}] * 2, payloads=["{}"]), True),
    ("payloads-longer", "payloads", _set("payloads", ["{}", "{}"]), True),
    ("action-ftp", "steps[0].action", _step(0, "ftp://x"), True),
    ("action-not-a-url", "steps[0].action", _step(0, "just text"), True),
    ("second-action-ftp", "steps[1].action", _step(1, "ftp://x/y"), True),
    ("action-over-url-limit", "steps[0].action", _step(0, "http://127.0.0.1:9/" + "a" * 5000), True),
    ("action-port-over-65535", "steps[0].action", _step(0, "http://127.0.0.1:99999/x"), True),
    ("action-unclosed-ipv6", "steps[0].action", _step(0, "http://[::1/x"), True),
    ("query-prepared-bad-port", "query_prepared", _set("query_prepared", "http://127.0.0.1:ab/qp"), True),
    ("more-steps-than-max", "steps", _nsteps(MAX_STEPS + 1), True),
    ("negative-timeout-to-fail", "timeout_to_fail", _set("timeout_to_fail", -1), True),
    ("query-prepared-ftp", "query_prepared", _set("query_prepared", "ftp://x/qp"), True),
    ("branch-headers-number-value", "branch_headers", _set("branch_headers", {"a": 1}), True),
    ("branch-headers-array", "branch_headers", _set("branch_headers", ["a"]), True),
    ("branch-headers-string", "branch_headers", _set("branch_headers", "a: b"), True),
]


@pytest.mark.parametrize("route", ["submit", "prepare"])
@pytest.mark.parametrize("field,mutate,queryable", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_field_is_400_naming_the_field_and_stores_nothing(vrelay, route, field, mutate, queryable):
    gid = new_gid("bad")
    body = base(gid)
    mutate(body)
    assert_rejected(vrelay, route, body, field, gid if queryable else None)


@pytest.mark.parametrize("route", ["submit", "prepare"])
@pytest.mark.parametrize("raw", [b'{"gid":"x-trunc","trans_type":"msg",', b"not json at all",
                                 b"", b"[1,2]", b'"just a string"',
                                 b'{"gid":"x","custom_data":"{\\\xd6\x9b}"}'],
                         ids=["truncated", "garbage", "empty", "array", "string",
                              "bad-escape-before-utf8"])
def test_unparsable_or_non_object_body_is_400_body(vrelay, route, raw):
    assert_rejected(vrelay, route, raw, "body")
    assert vrelay.query("x-trunc")["transaction"] is None


def test_body_over_the_limit_is_413_body(relay, app):
    """A Content-Length over --max-body is refused before the body is read."""
    r = relay(max_body=1024)
    gid = new_gid("big")
    body = msg_body(gid, [app.url("/svc/a")], ['{"pad":"%s"}' % ("x" * 2000)])
    assert_rejected(r, "submit", body, "body", gid, code=413)
    # a body under the limit is still fine
    ok = new_gid("small")
    assert r.post("submit", msg_body(ok, [app.url("/svc/a")]))[0] == 200
    r.wait_state(ok, "succeed")
    assert [c.params["gid"] for c in app.calls("/svc/a")] == [ok]


def test_max_length_gid_and_max_steps_are_accepted(vrelay):
    gid = "m" * 128
    assert vrelay.post("prepare", base(gid)) == (200, {"dtm_result": "SUCCESS"})
    assert vrelay.state(gid) == "prepared"
    gid2 = new_gid("maxsteps")
    body = base(gid2)
    _nsteps(MAX_STEPS)(body)
    assert vrelay.post("prepare", body) == (200, {"dtm_result": "SUCCESS"})
    assert len(vrelay.query(gid2)["branches"]) == MAX_STEPS


# ---------------------------------------------------------------- lenient about extras

def test_go_client_body_is_accepted(app, vrelay):
    gid = new_gid("go")
    body = {"gid": gid, "trans_type": "msg", "concurrent": False,
            "steps": [{"action": app.url("/svc/out")}, {"action": app.url("/svc/in")}],
            "payloads": ['{"amount":30}', '{"amount":30}'],
            "query_prepared": app.url("/qp"), "protocol": ""}
    assert vrelay.post("prepare", body) == (200, {"dtm_result": "SUCCESS"})
    assert vrelay.post("submit", body) == (200, {"dtm_result": "SUCCESS"})
    vrelay.wait_state(gid, "succeed")
    assert app.count("/svc/out") == 1 and app.count("/svc/in") == 1


def test_python_sdk_nulls_and_unknown_fields_are_accepted(app, vrelay):
    gid = new_gid("py")
    body = msg_body(gid, [app.url("/svc/a")], ['{"x":1}'],
                    custom_data=None, protocol=None, query_prepared=app.url("/qp"),
                    wait_result=False, retry_limit=3, rollback_reason=None,
                    req_extra={"k": "v"}, passthrough_headers=["X-Foo"],
                    some_future_field={"nested": [1, 2, {"a": None}]},
                    owner="someone-else", finish_time="2020-01-01 00:00:00")
    status, data = vrelay.post("prepare", body)
    assert (status, data) == (200, {"dtm_result": "SUCCESS"}), (status, data)
    status, data = vrelay.post("submit", body)
    assert (status, data) == (200, {"dtm_result": "SUCCESS"}), (status, data)
    vrelay.wait_state(gid, "succeed")
    assert [c.body for c in app.calls("/svc/a")] == [b'{"x":1}']


def test_status_in_the_body_is_ignored(app, vrelay):
    gid = new_gid("st")
    body = msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"), status="succeed",
                    timeout_to_fail=60)
    assert vrelay.post("prepare", body)[0] == 200
    assert vrelay.state(gid) == "prepared"


def test_extra_keys_inside_a_step_are_tolerated(app, vrelay):
    gid = new_gid("extra")
    body = msg_body(gid, [app.url("/svc/a")], ['{"x":2}'])
    body["steps"][0]["comment"] = "ignored"
    assert vrelay.post("submit", body)[0] == 200
    vrelay.wait_state(gid, "succeed")


def test_rejected_json_is_reported_as_json(vrelay):
    status, data, headers = vrelay.request("POST", "submit", body=b"{")
    assert status == 400
    assert "application/json" in headers.get("content-type", ""), headers
    json.dumps(data)  # parsed as JSON by request()
    assert isinstance(data, dict)
