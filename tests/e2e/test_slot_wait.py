# SPDX-License-Identifier: MIT
"""A call's --request-timeout counts from when it is sent, not from when it was
queued behind --max-connections-per-target: with two connections to a
destination that answers in 300 ms, a 1 s timeout and 40 messages at once,
every step is called exactly once and no call times out (a call that waited
its whole timeout for a connection is given back unmade and retried, not
sent with the few milliseconds it had left).
"""
import collections

from e2e_helpers import msg_body, new_gid, wait_for

N = 40


def test_calls_queued_behind_the_connection_cap_do_not_time_out_or_repeat(app, relay):
    r = relay(max_connections_per_target=2, request_timeout=1, retry_interval=1,
              timeout_to_fail=60)
    app.set_default("/slow", delay=0.3)
    gids = [new_gid("slot%d" % i) for i in range(N)]
    for g in gids:
        assert r.post("submit", msg_body(g, [app.url("/slow")]))[0] == 200

    def done():
        return [g for g in gids if r.state(g) != "succeed"]
    wait_for(lambda: not done(), 90, lambda: "every message to succeed; left: %r" % done())
    calls = collections.Counter(c.params.get("gid") for c in app.calls("/slow"))
    assert {g: n for g, n in calls.items() if n != 1} == {}, "a step was called more than once"
    assert set(calls) == set(gids)
    log = r.log_tail(100000)
    assert "timed out" not in log, [l for l in log.splitlines() if "timed out" in l][:5]
