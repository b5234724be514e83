# SPDX-License-Identifier: MIT
"""Message life cycle over the DTM-compatible API: prepare, submit, abort,
forceStop, their state rules and answers; newGid, version, ping, 404."""
import base64
import json
from datetime import timedelta

import pytest

from e2e_helpers import branch_states, msg_body, new_gid, parse_time, stays, utcnow, wait_for


def assert_success(status, data):
    assert status == 200, "expected 200, got %s %r" % (status, data)
    assert data == {"dtm_result": "SUCCESS"}, data


def assert_conflict(status, data, text):
    assert status == 409, "expected 409, got %s %r" % (status, data)
    assert isinstance(data, dict) and data.get("dtm_result") == "FAILURE", data
    assert text in data.get("message", ""), "message %r lacks %r" % (data.get("message"), text)


# ---------------------------------------------------------------- delivery basics

def test_submit_without_prepare_posts_each_step_in_order_with_payload_verbatim(app, relay):
    r = relay()
    gid = new_gid("life")
    p1 = '{"amount":30,"note":"caf\u00e9 \\"q\\"\\n","list":[1, 2 ,3]}'
    p2 = '  {"amount": 31}  '
    status, data = r.post("submit", msg_body(gid, [app.url("/svc/out"), app.url("/svc/in")],
                                             [p1, p2], branch_headers={"X-Tenant": "t-7"}))
    assert_success(status, data)

    q = r.wait_state(gid, "succeed")
    c1 = app.wait_calls("/svc/out", 1)[0]
    c2 = app.wait_calls("/svc/in", 1)[0]
    for c, payload, bid in ((c1, p1, "01"), (c2, p2, "02")):
        assert c.method == "POST"
        assert c.body == payload.encode("utf-8"), "body not verbatim: %r != %r" % (c.body, payload)
        assert c.params.get("gid") == gid
        assert c.params.get("trans_type") == "msg"
        assert c.params.get("branch_id") == bid
        assert c.params.get("op") == "action"
        assert c.headers.get("content-type", "").startswith("application/json"), c.headers
        assert c.headers.get("x-tenant") == "t-7", "branch_headers missing: %r" % c.headers
    # sequential: step 2 starts only after step 1 has been answered
    assert c2.t >= c1.t_end, "step 02 called before step 01 was answered"
    assert app.count("/svc/out") == 1 and app.count("/svc/in") == 1
    assert branch_states(q) == ["succeed", "succeed"]
    assert [b["branch_id"] for b in q["branches"]] == ["01", "02"]


def test_step_url_with_its_own_query_keeps_it_and_gets_dtm_params(app, relay):
    r = relay()
    gid = new_gid("life")
    assert_success(*r.post("submit", msg_body(gid, [app.url("/svc/q?tenant=7&x=a%20b")])))
    c = app.wait_calls("/svc/q", 1)[0]
    assert c.params.get("tenant") == "7" and c.params.get("x") == "a b", c.params
    assert c.params.get("gid") == gid and c.params.get("op") == "action"
    assert c.params.get("branch_id") == "01" and c.params.get("trans_type") == "msg"
    r.wait_state(gid, "succeed")


def test_prepare_then_submit_delivers_and_never_back_checks(app, relay):
    r = relay()
    gid = new_gid("life")
    body = msg_body(gid, [app.url("/svc/a"), app.url("/svc/b")], query_prepared=app.url("/qp"))
    assert_success(*r.post("prepare", body))
    q = r.query(gid)
    assert q["transaction"]["status"] == "prepared"
    assert branch_states(q) == ["prepared", "prepared"]
    assert app.count("/svc/a") == 0 and app.count("/svc/b") == 0, "delivered before submit"

    assert_success(*r.post("submit", body))
    r.wait_state(gid, "succeed")
    assert app.count("/svc/a") == 1 and app.count("/svc/b") == 1
    assert app.count("/qp") == 0, "back-check called for a submitted message"


def test_prepare_twice_is_idempotent_and_keeps_the_first_data(app, relay):
    r = relay()
    gid = new_gid("life")
    first = msg_body(gid, [app.url("/svc/first")], ['{"v":1}'], query_prepared=app.url("/qp"))
    second = msg_body(gid, [app.url("/svc/second1"), app.url("/svc/second2")], ['{"v":2}', '{"v":3}'],
                      query_prepared=app.url("/qp2"))
    assert_success(*r.post("prepare", first))
    assert_success(*r.post("prepare", second))
    q = r.query(gid)
    assert q["transaction"]["status"] == "prepared"
    assert [b["url"] for b in q["branches"]] == [app.url("/svc/first")], q["branches"]
    assert base64.b64decode(q["branches"][0]["bin_data"]) == b'{"v":1}'
    assert q["transaction"].get("query_prepared") == app.url("/qp")

    assert_success(*r.post("submit", second))
    r.wait_state(gid, "succeed")
    assert app.count("/svc/first") == 1
    assert app.count("/svc/second1") == 0 and app.count("/svc/second2") == 0


def test_resubmit_of_submitted_message_is_200_and_retries_only_unfinished_steps(app, relay):
    r = relay()
    gid = new_gid("life")
    app.set_default("/svc/flaky", 500, {"error": "down"})
    body = msg_body(gid, [app.url("/svc/ok"), app.url("/svc/flaky")], retry_interval=1)
    assert_success(*r.post("submit", body))
    app.wait_calls("/svc/flaky", 1)
    wait_for(lambda: branch_states(r.query(gid)) == ["succeed", "prepared"], 5,
             lambda: "step 01 recorded succeed: %r" % r.query(gid))
    n = app.count("/svc/flaky")

    assert_success(*r.post("submit", body))
    assert r.state(gid) == "submitted"
    app.wait_calls("/svc/flaky", n + 1, timeout=5)
    assert app.count("/svc/ok") == 1, "re-submit called an already-succeeded step again"

    app.set_default("/svc/flaky", 200)
    q = r.wait_state(gid, "succeed", timeout=10)
    assert branch_states(q) == ["succeed", "succeed"]
    assert app.count("/svc/ok") == 1


# ---------------------------------------------------------------- state conflicts

@pytest.fixture
def succeeded(app, relay):
    r = relay()
    gid = new_gid("done")
    body = msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"))
    assert_success(*r.post("submit", body))
    r.wait_state(gid, "succeed")
    return r, gid, body


def test_submit_after_success_is_409_cannot_sumbmit(succeeded, app):
    r, gid, body = succeeded
    status, data = r.post("submit", body)
    assert_conflict(status, data, "current status 'succeed', cannot sumbmit")
    assert "FAILURE" in data["message"]
    stays(lambda: app.count("/svc/a") == 1, 0.5, "no delivery after a refused submit")


def test_prepare_after_success_is_409_cannot_prepare(succeeded):
    r, gid, body = succeeded
    status, data = r.post("prepare", body)
    assert_conflict(status, data, "current status 'succeed', cannot prepare")
    assert r.state(gid) == "succeed"


def test_abort_after_success_is_409(succeeded):
    r, gid, body = succeeded
    status, data = r.post("abort", {"gid": gid, "trans_type": "msg"})
    assert_conflict(status, data, "current status 'succeed'")
    assert r.state(gid) == "succeed"


def test_force_stop_after_success_is_409(succeeded):
    r, gid, body = succeeded
    status, data = r.post("forceStop", {"gid": gid})
    assert status == 409, (status, data)
    assert data.get("dtm_result") == "FAILURE" and "FAILURE" in data.get("message", ""), data
    assert r.state(gid) == "succeed"


def test_abort_of_prepared_fails_it_and_nothing_is_delivered(app, relay):
    r = relay()
    gid = new_gid("abort")
    body = msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"), timeout_to_fail=1)
    assert_success(*r.post("prepare", body))
    assert_success(*r.post("abort", {"gid": gid, "trans_type": "msg"}))
    q = r.query(gid)
    assert q["transaction"]["status"] == "failed"
    status, data = r.post("submit", body)
    assert_conflict(status, data, "current status 'failed', cannot sumbmit")
    status, data = r.post("abort", {"gid": gid, "trans_type": "msg"})
    assert_conflict(status, data, "current status 'failed'")
    # past timeout_to_fail: a failed message is neither back-checked nor delivered
    stays(lambda: app.count("/svc/a") == 0 and app.count("/qp") == 0, 1.8,
          lambda: "no calls for an aborted message (got %r)" % app.calls())


def test_abort_of_unknown_gid_is_500_no_trans_global(relay):
    r = relay()
    gid = new_gid("nope")
    status, data = r.post("abort", {"gid": gid, "trans_type": "msg"})
    assert status == 500, (status, data)
    assert data == {"message": "no TransGlobal with gid: %s found" % gid}


def test_abort_of_submitted_is_409_cannot_abort(app, relay):
    r = relay()
    gid = new_gid("abort")
    app.set_default("/svc/down", 500, "down")
    assert_success(*r.post("submit", msg_body(gid, [app.url("/svc/down")])))
    status, data = r.post("abort", {"gid": gid, "trans_type": "msg"})
    assert_conflict(status, data, "current status 'submitted', cannot abort")
    assert r.state(gid) == "submitted"


def test_force_stop_of_submitted_fails_it_and_retries_stop(app, relay):
    r = relay(max_retry_interval=1)
    gid = new_gid("stop")
    app.set_default("/svc/down", 500, {"error": "down"})
    assert_success(*r.post("submit", msg_body(gid, [app.url("/svc/down")], retry_interval=1)))
    app.wait_calls("/svc/down", 2, timeout=6)  # it is being retried

    assert_success(*r.post("forceStop", {"gid": gid}))
    n = app.count("/svc/down")
    q = r.query(gid)
    assert q["transaction"]["status"] == "failed"
    # retries came every ~1 s before; after forceStop at most one racing call
    stays(lambda: app.count("/svc/down") <= n + 1, 3.0,
          lambda: "no more calls after forceStop (had %d, now %d)" % (n, app.count("/svc/down")))
    assert r.state(gid) == "failed"
    status, data = r.post("forceStop", {"gid": gid})
    assert status == 409 and data.get("dtm_result") == "FAILURE", (status, data)


def test_force_stop_of_prepared_fails_it(app, relay):
    r = relay()
    gid = new_gid("stop")
    assert_success(*r.post("prepare", msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"))))
    assert_success(*r.post("forceStop", {"gid": gid}))
    assert r.state(gid) == "failed"


def test_force_stop_of_unknown_gid_is_500(relay):
    r = relay()
    gid = new_gid("nope")
    status, data = r.post("forceStop", {"gid": gid})
    assert status == 500, (status, data)
    assert data == {"message": "no TransGlobal with gid: %s found" % gid}


def test_reset_next_cron_time_retries_a_backed_off_step_now(app, relay):
    r = relay()
    gid = new_gid("reset")
    app.queue("/svc/late", 500, "down")
    # retry_interval 20: without the reset the second call would be ~20 s away
    assert_success(*r.post("submit", msg_body(gid, [app.url("/svc/late")], retry_interval=20)))
    app.wait_calls("/svc/late", 1)
    # wait until the failed attempt is recorded (next try pushed well into the future)
    wait_for(lambda: parse_time(r.query(gid)["transaction"]["next_cron_time"])
             > utcnow() + timedelta(seconds=5), 5,
             lambda: "back-off recorded: %r" % r.query(gid)["transaction"])
    assert_success(*r.post("resetNextCronTime", {"gid": gid}))
    app.wait_calls("/svc/late", 2, timeout=4)
    r.wait_state(gid, "succeed", timeout=5)


# ---------------------------------------------------------------- small routes

def test_new_gid_returns_distinct_non_empty_gids_usable_for_prepare(app, relay):
    r = relay()
    status, a = r.get("newGid")
    assert status == 200, (status, a)
    assert a.get("dtm_result") == "SUCCESS"
    assert isinstance(a.get("gid"), str) and a["gid"], a
    status, b = r.get("newGid")
    assert status == 200 and b["gid"] != a["gid"], (a, b)
    assert_success(*r.post("prepare", msg_body(a["gid"], [app.url("/svc/a")])))
    assert r.state(a["gid"]) == "prepared"


def test_version_ping_and_unknown_path(relay):
    r = relay()
    status, data = r.get("version")
    assert status == 200 and isinstance(data, dict), (status, data)
    assert isinstance(data.get("version"), str) and data["version"], data
    for method in ("GET", "POST"):
        status, data, headers = r.request(method, "/api/ping", body=None if method == "GET" else {})
        assert status == 200 and data == {"msg": "pong"}, (method, status, data)
    assert "application/json" in headers.get("content-type", ""), headers
    for path in ("/api/dtmsvr/nope", "/nope", "/api/dtmsvr/queryAll"):
        status, data = r.get(path)
        assert status == 404, (path, status, data)


def test_successful_answers_never_contain_failure_text(app, relay):
    r = relay()
    gid = new_gid("ok")
    texts = []
    for method, route, body in (
            ("POST", "prepare", msg_body(gid, [app.url("/svc/a")])),
            ("POST", "prepare", msg_body(gid, [app.url("/svc/a")])),
            ("POST", "submit", msg_body(gid, [app.url("/svc/a")])),
            ("GET", "newGid", None),
            ("GET", "version", None),
            ("GET", "/api/ping", None)):
        status, data, _ = r.request(method, route, body=body)
        assert status == 200, (route, status, data)
        texts.append(json.dumps(data) if not isinstance(data, str) else data)
    for t in texts:
        assert "FAILURE" not in t, t
    r.wait_state(gid, "succeed")
