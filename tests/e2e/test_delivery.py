# SPDX-License-Identifier: MIT
"""Step delivery: ordering, concurrency, retry with back-off, request timeout,
delay, and the answers of a submit with wait_result."""
import time

import pytest

from e2e_helpers import branch_states, msg_body, new_gid, stays


def submit(r, body, expect=200):
    t0 = time.monotonic()
    status, data = r.post("submit", body)
    if expect is not None:
        assert status == expect, (status, data)
    return t0, status, data


def test_sequential_step_ongoing_holds_back_the_next_step(app, relay):
    r = relay()
    gid = new_gid("seq")
    app.queue("/svc/one", 425, {"dtm_result": "ONGOING"})
    submit(r, msg_body(gid, [app.url("/svc/one"), app.url("/svc/two")], retry_interval=1))
    q = r.wait_state(gid, "succeed", timeout=8)
    one = app.calls("/svc/one")
    two = app.calls("/svc/two")
    assert len(one) == 2, one
    assert len(two) == 1, two
    assert two[0].t >= one[1].t_end, "step 02 called before step 01 succeeded"
    assert branch_states(q) == ["succeed", "succeed"]


def test_sequential_failing_step_blocks_the_next_one(app, relay):
    r = relay()
    gid = new_gid("seq")
    app.set_default("/svc/one", 500, "down")
    submit(r, msg_body(gid, [app.url("/svc/one"), app.url("/svc/two")], retry_interval=1))
    app.wait_calls("/svc/one", 2, timeout=6)
    assert app.count("/svc/two") == 0, "step 02 called although step 01 never succeeded"
    q = r.query(gid)
    assert q["transaction"]["status"] == "submitted"
    assert branch_states(q) == ["prepared", "prepared"]


def test_concurrent_message_calls_every_step_and_finishes(app, relay):
    r = relay()
    gid = new_gid("conc")
    app.set_default("/svc/one", delay=0.5)
    app.set_default("/svc/two", delay=0.5)
    submit(r, msg_body(gid, [app.url("/svc/one"), app.url("/svc/two")], concurrent=True))
    q = r.wait_state(gid, "succeed", timeout=8)
    assert app.count("/svc/one") == 1 and app.count("/svc/two") == 1
    assert branch_states(q) == ["succeed", "succeed"]


def test_concurrent_message_delivers_later_step_while_first_fails(app, relay):
    r = relay()
    gid = new_gid("conc")
    app.set_default("/svc/one", 500, "down")
    submit(r, msg_body(gid, [app.url("/svc/one"), app.url("/svc/two")], concurrent=True,
                       retry_interval=1))
    app.wait_calls("/svc/two", 1, timeout=5)
    app.wait_calls("/svc/one", 2, timeout=6)
    q = r.query(gid)
    assert q["transaction"]["status"] == "submitted"
    assert branch_states(q) == ["prepared", "succeed"], q["branches"]
    n_two = app.count("/svc/two")
    app.set_default("/svc/one", 200)
    r.wait_state(gid, "succeed", timeout=8)
    assert app.count("/svc/two") == n_two, "a succeeded concurrent step was called again"


def test_step_error_is_retried_with_growing_interval_until_success(app, relay):
    r = relay()
    gid = new_gid("retry")
    app.queue("/svc/flaky", 500, {"error": "busy"}, times=2)
    t0, _, _ = submit(r, msg_body(gid, [app.url("/svc/flaky")], retry_interval=1))
    q = r.wait_state(gid, "succeed", timeout=12)
    calls = app.calls("/svc/flaky")
    assert len(calls) == 3, calls
    assert [c.status for c in calls] == [500, 500, 200]
    g1 = calls[1].t - calls[0].t
    g2 = calls[2].t - calls[1].t
    assert g1 >= 0.6, "first retry %.2fs after the error; retry_interval is 1 s" % g1
    assert g2 > g1 * 1.15, "back-off does not grow: %.2fs then %.2fs" % (g1, g2)
    assert branch_states(q) == ["succeed"]


@pytest.mark.parametrize("status,body", [(409, ""), (200, "FAILURE"), (425, "")],
                         ids=["409", "200-with-FAILURE", "425"])
def test_step_failure_or_ongoing_is_not_terminal_for_msg(app, relay, status, body):
    r = relay()
    gid = new_gid("retry")
    app.queue("/svc/x", status, body)
    submit(r, msg_body(gid, [app.url("/svc/x")], retry_interval=1))
    app.wait_calls("/svc/x", 1)
    q = r.wait_state(gid, "succeed", timeout=8)
    assert app.count("/svc/x") == 2
    assert branch_states(q) == ["succeed"]


def test_request_timeout_counts_as_error_and_is_retried(app, relay):
    r = relay()
    gid = new_gid("tmo")
    app.queue("/svc/slow", 200, delay=6)  # first answer comes far too late
    submit(r, msg_body(gid, [app.url("/svc/slow")], request_timeout=1, retry_interval=1))
    calls = app.wait_calls("/svc/slow", 2, timeout=8)
    # cut after 1 s, retried 1-2 s later; without the cut the retry could not start before 6 s
    assert calls[1].t - calls[0].t < 5, "the slow call was not cut at request_timeout=1"
    r.wait_state(gid, "succeed", timeout=6)


def test_delay_postpones_the_first_delivery(app, relay):
    r = relay()
    gid = new_gid("delay")
    t0, _, _ = submit(r, msg_body(gid, [app.url("/svc/d")], custom_data='{"delay":2}'))
    c = app.wait_calls("/svc/d", 1, timeout=8)[0]
    assert c.t - t0 >= 1.8, "delivered %.2fs after submit despite delay 2" % (c.t - t0)
    r.wait_state(gid, "succeed", timeout=5)


def test_wait_result_success_answers_after_the_steps_ran(app, relay):
    r = relay()
    gid = new_gid("wait")
    app.set_default("/svc/a", delay=0.3)
    t0, status, data = submit(r, msg_body(gid, [app.url("/svc/a"), app.url("/svc/b")],
                                          wait_result=True))
    assert data == {"dtm_result": "SUCCESS"}, data
    # no waiting: the calls must already be there when the answer arrives
    assert app.count("/svc/a") == 1 and app.count("/svc/b") == 1, app.calls()
    assert time.monotonic() - t0 >= 0.3
    assert r.state(gid) == "succeed", "wait_result answered before the outcome was stored"


def test_wait_result_step_failure_is_409_failure(app, relay):
    r = relay()
    gid = new_gid("wait")
    app.queue("/svc/a", 409, "")
    _, status, data = submit(r, msg_body(gid, [app.url("/svc/a")], wait_result=True), expect=None)
    assert status == 409, (status, data)
    assert data.get("dtm_result") == "FAILURE", data
    assert "FAILURE" in data.get("message", ""), data
    assert app.count("/svc/a") == 1
    assert r.state(gid) == "submitted"
    r.wait_state(gid, "succeed", timeout=8)  # and it is still retried


def test_wait_result_step_ongoing_is_409_wait_result_not_success(app, relay):
    r = relay()
    gid = new_gid("wait")
    app.queue("/svc/a", 425, "")
    _, status, data = submit(r, msg_body(gid, [app.url("/svc/a")], wait_result=True), expect=None)
    assert status == 409, (status, data)
    assert data.get("dtm_result") == "FAILURE", data
    assert "wait result not return success" in data.get("message", ""), data
    assert "FAILURE" in data["message"]
    assert r.state(gid) == "submitted"
    r.wait_state(gid, "succeed", timeout=8)


def test_wait_result_step_error_is_500_with_message(app, relay):
    r = relay()
    gid = new_gid("wait")
    app.queue("/svc/a", 500, "exploded")
    _, status, data = submit(r, msg_body(gid, [app.url("/svc/a")], wait_result=True), expect=None)
    assert status == 500, (status, data)
    assert isinstance(data, dict) and isinstance(data.get("message"), str) and data["message"], data
    assert data.get("dtm_result") != "SUCCESS"
    assert r.state(gid) == "submitted"
    r.wait_state(gid, "succeed", timeout=8)


def test_wait_result_with_delay_is_409_and_delivers_later(app, relay):
    r = relay()
    gid = new_gid("wait")
    _, status, data = submit(r, msg_body(gid, [app.url("/svc/a")], wait_result=True,
                                         custom_data='{"delay":1}'), expect=None)
    assert status == 409 and data.get("dtm_result") == "FAILURE", (status, data)
    assert app.count("/svc/a") == 0
    r.wait_state(gid, "succeed", timeout=6)


def test_many_messages_are_all_delivered_once(app, relay):
    r = relay()
    gids = [new_gid("many") for _ in range(40)]
    for g in gids:
        submit(r, msg_body(g, [app.url("/svc/m")]))
    for g in gids:
        r.wait_state(g, "succeed", timeout=10)
    got = sorted(c.params.get("gid") for c in app.calls("/svc/m"))
    assert got == sorted(gids), "each message delivered exactly once without faults"
    stays(lambda: app.count("/svc/m") == len(gids), 0.5, "no late duplicate deliveries")
