# SPDX-License-Identifier: MIT
"""An API call that changes a message while the relay has a call about it in
flight: the state written first wins (compare-and-set), nothing is resurrected."""
from e2e_helpers import msg_body, new_gid, stays, wait_for

OK = {"dtm_result": "SUCCESS"}


def test_force_stop_during_a_step_call_is_not_undone_by_its_success(app, relay):
    r = relay()
    gid = new_gid("race")
    app.set_default("/svc/slow", delay=1.0)
    assert r.post("submit", msg_body(gid, [app.url("/svc/slow"), app.url("/svc/next")])) == (200, OK)
    wait_for(lambda: app.inflight("/svc/slow") >= 1, 5, "step call in flight")
    assert r.post("forceStop", {"gid": gid}) == (200, OK)
    wait_for(lambda: all(c.t_end for c in app.calls("/svc/slow")), 5, "slow call answered")
    stays(lambda: r.state(gid) == "failed" and app.count("/svc/next") == 0, 1.5,
          lambda: "forceStopped message stays failed (now %r, next calls %d)"
          % (r.state(gid), app.count("/svc/next")))


def test_abort_during_a_back_check_is_not_undone_by_its_success(app, relay):
    r = relay()
    gid = new_gid("race")
    app.set_default("/qp", 200, OK, delay=1.0)
    assert r.post("prepare", msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"),
                                      timeout_to_fail=1)) == (200, OK)
    wait_for(lambda: app.inflight("/qp") >= 1, 6, "back-check in flight")
    assert r.post("abort", {"gid": gid, "trans_type": "msg"}) == (200, OK)
    wait_for(lambda: all(c.t_end for c in app.calls("/qp")), 5, "back-check answered")
    stays(lambda: r.state(gid) == "failed" and app.count("/svc/a") == 0, 1.5,
          lambda: "aborted message stays failed and undelivered (now %r, %d step calls)"
          % (r.state(gid), app.count("/svc/a")))


def test_submit_during_a_back_check_is_not_undone_by_its_failure(app, relay):
    r = relay()
    gid = new_gid("race")
    app.set_default("/qp", 409, {"dtm_result": "FAILURE"}, delay=1.0)
    body = msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"), timeout_to_fail=1)
    assert r.post("prepare", body) == (200, OK)
    wait_for(lambda: app.inflight("/qp") >= 1, 6, "back-check in flight")
    assert r.post("submit", body) == (200, OK)
    r.wait_state(gid, "succeed", timeout=6)
    assert app.count("/svc/a") >= 1
    stays(lambda: r.state(gid) == "succeed", 0.5, "a delivered message stays succeed")
