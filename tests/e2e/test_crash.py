# SPDX-License-Identifier: MIT
"""Crashes and shutdown: kill -9 loses nothing that was acknowledged (delivery
is at-least-once), SIGTERM exits 0 and leaves undelivered work for the next run."""
import http.client
import signal
import threading
import time
from collections import Counter

from e2e_helpers import msg_body, new_gid, wait_for


def wait_all_succeed(r, gids, timeout):
    pending = set(gids)

    def done():
        for g in list(pending):
            if r.state(g) == "succeed":
                pending.discard(g)
        return not pending
    wait_for(done, timeout, lambda: "%d message(s) to succeed, e.g. %r" % (
        len(pending), [(g, r.query(g)["transaction"]) for g in sorted(pending)[:3]]))


def test_kill9_during_delivery_loses_no_acknowledged_message(app, relay):
    r = relay()
    app.set_default("/svc/slow", delay=0.3)
    gids = [new_gid("crash%02d" % i) for i in range(50)]
    acked = []
    for g in gids:
        status, data = r.post("submit", msg_body(g, [app.url("/svc/slow")]))
        assert status == 200, (status, data)
        acked.append(g)
    wait_for(lambda: app.inflight("/svc/slow") >= 1, 5, "a step call in flight")
    r.kill(signal.SIGKILL)
    assert not r.alive()
    delivered_before = {c.params.get("gid") for c in app.calls("/svc/slow") if c.completed}

    r.restart()
    wait_all_succeed(r, acked, timeout=30)
    per_gid = Counter(c.params.get("gid") for c in app.calls("/svc/slow"))
    missing = [g for g in acked if per_gid[g] < 1]
    assert not missing, "acknowledged but never delivered: %r" % missing
    assert set(per_gid) <= set(gids), "calls for gids nobody submitted: %r" % (set(per_gid) - set(gids))
    dups = sum(n - 1 for n in per_gid.values())
    print("kill -9 during delivery: %d acknowledged, %d answered before the kill, "
          "%d duplicate deliveries" % (len(acked), len(delivered_before), dups))


def test_kill9_during_intake_loses_no_acknowledged_message(app, relay):
    r = relay()
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def producer(k):
        i = 0
        while not stop.is_set():
            g = new_gid("in%d-%d" % (k, i))
            i += 1
            body = msg_body(g, [app.url("/svc/fast")])
            try:
                status, _ = r.post("submit", body, timeout=5)
            except (OSError, http.client.HTTPException):
                return  # the relay is gone; this one was not acknowledged
            if status == 200:
                with lock:
                    acked.append(g)

    threads = [threading.Thread(target=producer, args=(k,), daemon=True) for k in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 40, 15, lambda: "40 acknowledged submits (got %d)" % len(acked))
    r.kill(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(10)
    with lock:
        acked_now = list(acked)

    r.restart()
    wait_all_succeed(r, acked_now, timeout=30)
    per_gid = Counter(c.params.get("gid") for c in app.calls("/svc/fast"))
    assert all(per_gid[g] >= 1 for g in acked_now)


def test_sigterm_exits_0_and_undelivered_message_is_delivered_after_restart(app, relay):
    r = relay()
    gid = new_gid("term")
    t0 = time.monotonic()
    assert r.post("submit", msg_body(gid, [app.url("/svc/later")], custom_data='{"delay":3}'))[0] == 200
    t_term = time.monotonic()
    rc = r.kill(signal.SIGTERM, wait=15)
    assert rc == 0, "SIGTERM: exit code %r (None = still running after 15 s)" % rc
    assert time.monotonic() - t_term < 15
    assert app.count("/svc/later") == 0, "delivered before its delay"
    r.restart()
    c = app.wait_calls("/svc/later", 1, timeout=10)[0]
    assert c.t - t0 >= 2.8, "delay not kept across restart: delivered after %.2fs" % (c.t - t0)
    r.wait_state(gid, "succeed", timeout=5)


def test_sigterm_lets_the_call_in_flight_finish(app, relay):
    r = relay()
    gid = new_gid("term")
    app.set_default("/svc/slow", delay=1.0)
    assert r.post("submit", msg_body(gid, [app.url("/svc/slow")]))[0] == 200
    wait_for(lambda: app.inflight("/svc/slow") >= 1, 5, "the call in flight")
    rc = r.kill(signal.SIGTERM, wait=15)
    assert rc == 0, "SIGTERM: exit code %r" % rc
    first = app.calls("/svc/slow")[0]
    # completed is set by the app's thread just after its answer went out
    wait_for(lambda: first.t_end is not None, 5, "the app to finish answering the call")
    assert first.completed, "the relay hung up on a call in flight instead of letting it finish"
    r.restart()
    r.wait_state(gid, "succeed", timeout=10)


def test_restart_keeps_finished_and_prepared_messages(app, relay):
    r = relay()
    done = new_gid("keep")
    prep = new_gid("keep")
    assert r.post("submit", msg_body(done, [app.url("/svc/a")]))[0] == 200
    r.wait_state(done, "succeed")
    assert r.post("prepare", msg_body(prep, [app.url("/svc/b")], query_prepared=app.url("/qp"),
                                      timeout_to_fail=60))[0] == 200
    r.kill(signal.SIGKILL)
    r.restart()
    assert r.state(done) == "succeed"
    assert r.state(prep) == "prepared"
    assert app.count("/svc/a") == 1, "a finished message was delivered again after restart"
    assert app.count("/svc/b") == 0
