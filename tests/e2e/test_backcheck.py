# SPDX-License-Identifier: MIT
"""The back-check: a prepared message older than timeout_to_fail is asked
about at query_prepared (GET ...?gid&trans_type=msg&branch_id=00&op=msg) and
moves on according to the answer."""
import time

import pytest

from e2e_helpers import branch_states, msg_body, new_gid, stays


def prepare(r, app, gid, qp="/qp", timeout_to_fail=1, **extra):
    """Prepare a 2-step message; return (monotonic time of the request, body)."""
    if timeout_to_fail is not None:
        extra["timeout_to_fail"] = timeout_to_fail
    body = msg_body(gid, [app.url("/svc/a"), app.url("/svc/b")],
                    query_prepared=app.url(qp) if qp else "", **extra)
    t0 = time.monotonic()
    status, data = r.post("prepare", body)
    assert (status, data) == (200, {"dtm_result": "SUCCESS"}), (status, data)
    return t0, body


def test_backcheck_success_submits_and_delivers(app, relay):
    r = relay()
    gid = new_gid("bc")
    t0, _ = prepare(r, app, gid, branch_headers={"X-Trace": "bc-1"})
    c = app.wait_calls("/qp", 1, timeout=6)[0]
    assert c.t - t0 >= 0.9, "back-checked %.2fs after prepare, before timeout_to_fail=1" % (c.t - t0)
    assert c.method == "GET"
    assert c.params == {"gid": gid, "trans_type": "msg", "branch_id": "00", "op": "msg"}, c.params
    assert c.body == b""
    assert c.headers.get("x-trace") == "bc-1", "branch_headers not on the back-check: %r" % c.headers
    q = r.wait_state(gid, "succeed", timeout=6)
    assert branch_states(q) == ["succeed", "succeed"]
    a = app.wait_calls("/svc/a", 1)[0]
    assert a.t >= c.t, "step delivered before the back-check"
    assert app.count("/qp") == 1, "back-checked again after it said SUCCESS"


@pytest.mark.parametrize("status,body", [(409, ""), (200, '{"dtm_result":"FAILURE"}'),
                                         (500, "FAILURE")],
                         ids=["409", "200-with-FAILURE", "500-with-FAILURE"])
def test_backcheck_failure_fails_the_message_and_never_delivers(app, relay, status, body):
    r = relay()
    gid = new_gid("bc")
    app.set_default("/qp", status, body)
    prepare(r, app, gid)
    app.wait_calls("/qp", 1, timeout=6)
    q = r.wait_state(gid, "failed", timeout=5)
    assert branch_states(q) == ["prepared", "prepared"], "branches of a failed msg stay prepared"
    stays(lambda: app.count("/svc/a") == 0 and app.count("/svc/b") == 0, 1.5,
          lambda: "steps of a failed message are never called (got %r)" % app.calls())
    assert app.count("/qp") == 1, "a failed message was back-checked again"
    assert r.state(gid) == "failed"


@pytest.mark.parametrize("status,body", [(425, ""), (200, '{"dtm_result":"ONGOING"}')],
                         ids=["425", "200-with-ONGOING"])
def test_backcheck_ongoing_keeps_prepared_and_asks_again(app, relay, status, body):
    r = relay()
    gid = new_gid("bc")
    app.queue("/qp", status, body, times=2)  # then the default: SUCCESS
    prepare(r, app, gid)
    calls = app.wait_calls("/qp", 2, timeout=8)
    state = r.state(gid)
    if app.count("/qp") == 2:  # the third (SUCCESS) answer has not been given yet
        assert state == "prepared", state
    assert calls[1].t - calls[0].t >= 0.5, "asked again too soon: %.2fs" % (calls[1].t - calls[0].t)
    assert app.count("/svc/a") == 0, "delivered while the back-check said ONGOING"
    calls = app.wait_calls("/qp", 3, timeout=8)
    r.wait_state(gid, "succeed", timeout=6)
    first_step = app.calls("/svc/a")[0]
    assert first_step.t >= calls[2].t, "step delivered before the back-check said SUCCESS"


def test_backcheck_error_keeps_prepared_and_backs_off(app, relay):
    r = relay()
    gid = new_gid("bc")
    app.set_default("/qp", 500, {"error": "db down"})
    t0, _ = prepare(r, app, gid)
    calls = app.wait_calls("/qp", 3, timeout=12)
    assert r.state(gid) == "prepared"
    assert app.count("/svc/a") == 0 and app.count("/svc/b") == 0
    g1 = calls[1].t - calls[0].t
    g2 = calls[2].t - calls[1].t
    assert calls[0].t - t0 >= 0.9
    assert g1 >= 0.5, "retried too soon after an error: %.2fs" % g1
    assert g2 > g1 * 1.15, "no back-off between back-check errors: gaps %.2fs then %.2fs" % (g1, g2)


def test_backcheck_transport_error_keeps_prepared(app, relay):
    r = relay()
    gid = new_gid("bc")
    dead = "http://127.0.0.1:9/qp"  # discard port: connection refused
    body = msg_body(gid, [app.url("/svc/a")], query_prepared=dead, timeout_to_fail=1)
    assert r.post("prepare", body)[0] == 200
    stays(lambda: r.state(gid) == "prepared" and app.count("/svc/a") == 0, 2.5,
          "message stays prepared while the back-check URL is unreachable")


def test_prepared_without_query_prepared_is_submitted_after_timeout(app, relay):
    r = relay()
    gid = new_gid("bc")
    t0, _ = prepare(r, app, gid, qp=None)
    c = app.wait_calls("/svc/a", 1, timeout=6)[0]
    assert c.t - t0 >= 0.9, "delivered %.2fs after prepare, before timeout_to_fail=1" % (c.t - t0)
    q = r.wait_state(gid, "succeed", timeout=5)
    assert branch_states(q) == ["succeed", "succeed"]


def test_server_timeout_to_fail_applies_when_message_has_none(app, relay):
    r = relay()  # --timeout-to-fail 2
    gid = new_gid("bc")
    t0, _ = prepare(r, app, gid, timeout_to_fail=None)
    c = app.wait_calls("/qp", 1, timeout=8)[0]
    assert c.t - t0 >= 1.8, "back-checked %.2fs after prepare, before --timeout-to-fail 2" % (c.t - t0)
    r.wait_state(gid, "succeed", timeout=6)


def test_submitted_in_time_is_never_back_checked(app, relay):
    r = relay()
    gid = new_gid("bc")
    _, body = prepare(r, app, gid)
    assert r.post("submit", body)[0] == 200
    r.wait_state(gid, "succeed", timeout=5)
    stays(lambda: app.count("/qp") == 0, 1.5, "no back-check of a submitted message")
