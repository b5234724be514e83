# SPDX-License-Identifier: MIT
"""Back-pressure: an old backlog of due messages slows the intake, a large one refuses submits.

The relay delivers one message at a time (--max-inflight 1) to a target that
answers slowly, so submits pile up in the store due and unclaimed: the backlog
the intake samples (msgrelay_backlog_due, and the age of its oldest message,
msgrelay_backlog_oldest_seconds). Once the oldest has waited past
--backlog-slow-ms the intake waits before its commits
(msgrelay_backlog_wait_seconds_total), however few wait; a young backlog slows
nothing, however many wait. Past --backlog-max messages a submit is answered
503 with Retry-After before it reaches the store, while prepare, query and the
rest still work. Once the target answers quickly again the backlog drains and
submits are accepted again.
No timing is asserted: only counters, answers and states.
"""
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import free_port, relay_binary
from e2e_helpers import msg_body, new_gid, wait_for

SLOW = "/slow"


def metric(relay, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), relay.metrics(), re.M)
    assert m, "metric %s not reported" % name
    return float(m.group(1))


def submit(relay, app, gid=None):
    gid = gid or new_gid("bp")
    status, data, headers = relay.request("POST", "submit", msg_body(gid, [app.url(SLOW)]))
    return gid, status, data, headers


def test_over_backlog_max_submits_get_503_with_retry_after_and_the_rest_still_works(app, relay):
    # each delivery takes a while: what is submitted stays due in the store
    app.set_default(SLOW, delay=1)
    r = relay(max_inflight=1, backlog_slow_ms=0, backlog_max=3, request_timeout=10,
              max_request_timeout=20)
    accepted = []
    refused = {}

    def refused_once():
        gid, status, data, headers = submit(r, app)
        if status == 200:
            accepted.append(gid)
            return False
        refused.update(status=status, data=data, headers=headers)
        return True
    wait_for(refused_once, 30, "a submit refused for the backlog")
    assert refused["status"] == 503, refused
    assert refused["headers"].get("retry-after") == "1", refused["headers"]
    assert "backlog" in refused["data"]["message"], refused["data"]
    assert "--backlog-max" in refused["data"]["message"], refused["data"]
    assert len(accepted) >= 2, accepted
    assert metric(r, "msgrelay_backlog_refused_total") >= 1
    wait_for(lambda: metric(r, "msgrelay_backlog_due") > 0, 10, "the backlog gauge above 0")

    # not refused for the backlog: prepare, query, abort
    prepared = new_gid("bp-prep")
    status, data = r.post("prepare", msg_body(prepared, [app.url(SLOW)]))
    assert status == 200, data
    assert r.state(prepared) == "prepared"
    aborted = new_gid("bp-abort")
    assert r.post("prepare", msg_body(aborted, [app.url(SLOW)]))[0] == 200
    assert r.post("abort", {"gid": aborted, "trans_type": "msg"})[0] == 200
    assert r.state(aborted) == "failed"
    # the submit of a prepared message makes it due: refused too while over the bound
    status, data, headers = r.request("POST", "submit", {"gid": prepared, "trans_type": "msg"})
    assert status == 503, data
    assert headers.get("retry-after") == "1"
    assert r.state(prepared) == "prepared"

    # the target is quick again: the backlog drains and submits are accepted again
    app.set_default(SLOW, delay=0)
    wait_for(lambda: r.post("submit", {"gid": prepared, "trans_type": "msg"})[0] == 200, 60,
             "the prepared message's submit accepted once the backlog drained")
    for gid in accepted + [prepared]:
        r.wait_state(gid, "succeed", timeout=60)
    wait_for(lambda: metric(r, "msgrelay_backlog_due") == 0, 10, "the backlog gauge back to 0")
    log = r.log_tail(2000)
    assert "backlog over --backlog-max" in log
    assert "backlog under --backlog-max" in log


def test_past_backlog_slow_ms_a_few_old_messages_slow_the_intake_and_all_are_delivered(
        app, relay):
    # one delivery at a time, each 2 s long: the next submits wait in the store, a few
    app.set_default(SLOW, delay=2)
    r = relay(max_inflight=1, backlog_slow_ms=200, backlog_max=0, request_timeout=10,
              max_request_timeout=20)
    gids = []
    for _ in range(4):
        gid, status, data, _ = submit(r, app)
        assert status == 200, data
        gids.append(gid)
    wait_for(lambda: metric(r, "msgrelay_backlog_oldest_seconds") > 0.2, 30,
             "the oldest due message older than the bound")
    # a count bound would not slow this: three wait
    assert metric(r, "msgrelay_backlog_due") <= 3
    gid, status, data, _ = submit(r, app)
    assert status == 200, data  # slowed, never refused (--backlog-max 0)
    gids.append(gid)
    assert metric(r, "msgrelay_backlog_wait_seconds_total") > 0
    assert metric(r, "msgrelay_backlog_refused_total") == 0
    app.set_default(SLOW, delay=0)
    for gid in gids:
        r.wait_state(gid, "succeed", timeout=60)
    wait_for(lambda: metric(r, "msgrelay_backlog_oldest_seconds") == 0, 10,
             "the age gauge back to 0")
    log = r.log_tail(2000)
    assert "backlog older than --backlog-slow-ms" in log
    assert "backlog no older than --backlog-slow-ms" in log


def test_a_young_backlog_slows_nothing_however_many_wait(app, relay):
    # the target holds each call: what is submitted stays due, and young against a long bound
    app.set_default(SLOW, delay=5)
    r = relay(max_inflight=1, backlog_slow_ms=600000, backlog_max=0, request_timeout=10,
              max_request_timeout=20)
    many = 2500  # past twice the count bound of old (1000), where it waited its longest

    def one(_):
        return submit(r, app)[1]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(many)))
    assert statuses == [200] * many
    wait_for(lambda: metric(r, "msgrelay_backlog_due") >= many - 10, 30,
             "the backlog sampled at its size")
    assert metric(r, "msgrelay_backlog_wait_seconds_total") == 0
    assert 0 < metric(r, "msgrelay_backlog_oldest_seconds") < 600
    assert "backlog older than --backlog-slow-ms" not in r.log_tail(2000)


def test_work_due_by_the_clock_wakes_the_relay_before_its_poll(app, relay):
    """A retry comes due in the store: the backlog's sample wakes the relay, whose own poll
    is a minute away, so the retry neither waits for it nor ages into the intake's bound."""
    app.queue(SLOW, status=500, body="not yet")
    app.set_default(SLOW)
    r = relay(poll_interval_ms=60000, backlog_slow_ms=400)
    gid, status, data, _ = submit(r, app)
    assert status == 200, data
    app.wait_calls(SLOW, 1)
    # the retry is due --retry-interval (1 s) after the failure; the poll would come at 60 s
    r.wait_state(gid, "succeed", timeout=30)
    assert app.count(SLOW) == 2


def test_the_backlog_is_reported_in_metrics_and_the_overview(app, relay):
    r = relay(backlog_slow_ms=700, backlog_max=70)
    gid, status, data, _ = submit(r, app)
    assert status == 200, data
    r.wait_state(gid, "succeed")
    wait_for(lambda: metric(r, "msgrelay_backlog_due") == 0, 10, "the backlog gauge at 0")
    assert metric(r, "msgrelay_backlog_oldest_seconds") == 0
    assert metric(r, "msgrelay_backlog_refused_total") == 0
    status, ov = r.get("/api/msgrelay/overview")
    assert status == 200, ov
    assert ov["backlog"] == {"due": 0, "oldest_ms": 0, "slow_ms": 700, "max": 70}, ov


def test_without_a_backlog_submits_are_handed_to_the_relay(app, relay):
    """No due work waits in the store: fresh submits skip the claim (hand-over)."""
    app.set_default(SLOW)
    r = relay()
    for _ in range(3):
        gid, status, data, _ = submit(r, app)
        assert status == 200, data
        r.wait_state(gid, "succeed")
    assert metric(r, 'msgrelay_relay_passes_total{source="intake"}') >= 1


@pytest.mark.parametrize("args,expect", [
    (["--backlog-max", "-1"], "--backlog-max: -1 is outside 0..10000000"),
    (["--backlog-slow-ms", "abc"], "--backlog-slow-ms: 'abc' is not a whole number"),
    (["--backlog-slow-ms", "3600001"], "--backlog-slow-ms: 3600001 is outside 0..3600000"),
    (["--backlog-slow", "1000"], "unknown flag '--backlog-slow'"),  # the count bound is gone
])
def test_bad_backlog_bounds_stop_the_start(tmp_path, args, expect):
    argv = [relay_binary(), "serve", "--bind", "127.0.0.1", "--port", str(free_port()),
            "--store", "sqlite:" + str(tmp_path / "bad.db")] + args
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=15,
                          env={"PATH": "/usr/bin:/bin"}, cwd=str(tmp_path))
    assert proc.returncode == 2, proc
    assert expect in proc.stdout + proc.stderr, proc
    assert not (tmp_path / "bad.db").exists()
