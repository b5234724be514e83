# SPDX-License-Identifier: MIT
"""A store call that blocks the relay thread for longer than --request-timeout
(a table lock held by the test, as a cluster holds commits while it drops a
dead node) must not turn answers that arrived meanwhile into timeouts: each
step is called once, and every message succeeds after the stall.
"""
import collections
import subprocess
import time

from e2e_helpers import msg_body, new_gid, wait_for
from test_mysql import fresh_uri, states

N = 10
STALL_S = 4.0


def test_answers_that_arrive_while_the_store_blocks_the_relay_are_not_timeouts(
        app, relay, mariadb):
    uri = fresh_uri(mariadb, "e2e_stall")
    r = relay(store=uri, relay_id="stalled", lease=30, request_timeout=2, retry_interval=1,
              poll_interval_ms=100)
    # the first answer comes before the others: writing its result is what blocks the thread;
    # the others arrive while it is blocked, each well within --request-timeout
    gids = [new_gid("stall%d" % i) for i in range(N)]
    for i in range(N):
        app.set_default("/svc/%d" % i, delay=0.5 if i == 0 else 1.0 + 0.05 * i)
    for i, g in enumerate(gids):
        assert r.post("submit", msg_body(g, [app.url("/svc/%d" % i)]))[0] == 200
    wait_for(lambda: sum(app.inflight("/svc/%d" % i) for i in range(N)) == N, 5,
             "every call in flight")
    locker = subprocess.Popen(
        ["mariadb", "--no-defaults", "-uroot", "--socket=" + mariadb.socket, "e2e_stall", "-e",
         "LOCK TABLES msg WRITE, step WRITE; SELECT SLEEP(%s); UNLOCK TABLES" % STALL_S],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        locker.wait(STALL_S + 20)
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait()
    released = time.monotonic()
    assert locker.returncode == 0, locker.stderr.read()
    answered = [c for c in app.calls() if c.completed]
    # the test means something only if answers arrived while the lock was held
    assert sum(1 for c in answered if c.t_end < released - 0.5) >= N - 1, \
        "answers did not arrive during the stall"
    wait_for(lambda: set(states(mariadb, "e2e_stall", gids).values()) == {"succeed"}, 20,
             lambda: "every message to succeed: %r" % states(mariadb, "e2e_stall", gids))
    calls = collections.Counter(c.params.get("gid") for c in app.calls())
    assert {g: n for g, n in calls.items() if n != 1} == {}, "a step was called twice"
    assert "Operation timed out" not in r.log_tail(5000)
