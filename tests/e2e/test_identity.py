# SPDX-License-Identifier: MIT
"""One identity per live relay, and signals that must not stop it.

A port another relay listens on is a start-up error naming the address; two
live relays never share a relay id (the registry refuses the second) and so
never deliver each other's leased messages; a relay killed with -9 and
started again under its id takes its own leases back at once; SIGHUP is
logged and ignored.
"""
import collections
import os
import signal
import sqlite3
import subprocess
import time

from conftest import free_port, relay_binary
from e2e_helpers import msg_body, new_gid, stays, wait_for


def serve(argv, cwd, timeout=30):
    """Run `msgrelay serve ARGV` to its end (it is expected to refuse); the completed process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    return subprocess.run([relay_binary(), "serve"] + argv, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(cwd))


def store_of(r):
    """The --store URI relay @r runs with."""
    return r.argv[r.argv.index("--store") + 1]


def test_a_port_in_use_is_a_start_up_error_naming_the_address(relay, tmp_path):
    first = relay(relay_id="first")
    # another store and another id: only the port is shared
    p = serve(["--port", str(first.port), "--bind", "127.0.0.1", "--relay-id", "second",
               "--store", "sqlite:" + str(tmp_path / "other.db")], tmp_path)
    assert p.returncode != 0, p
    assert "127.0.0.1:%d" % first.port in p.stderr, p.stderr
    assert "Address already in use" in p.stderr, p.stderr
    assert first.alive()
    assert first.get("/api/ping")[0] == 200


def test_a_second_relay_with_the_same_id_refuses_to_start_and_nothing_is_delivered_twice(
        app, relay, tmp_path):
    app.set_default("/svc/slow", delay=0.5)
    first = relay(relay_id="twin", lease=30, max_inflight=64)
    gids = [new_gid("twin%02d" % i) for i in range(40)]
    for g in gids:
        assert first.post("submit", msg_body(g, [app.url("/svc/slow")]))[0] == 200
    wait_for(lambda: app.inflight("/svc/slow") >= 1, 5, "a call in flight")

    # the same id on the same store from another port: refused while the first one lives
    p = serve(["--port", str(free_port()), "--bind", "127.0.0.1", "--relay-id", "twin", "--store", store_of(first),
               "--poll-interval-ms", "100"], tmp_path)
    assert p.returncode != 0, p
    assert "twin" in p.stderr and "held by a live relay" in p.stderr, p.stderr
    assert "pid %d" % first.proc.pid in p.stderr, p.stderr

    def all_succeed():
        return all(first.state(g) == "succeed" for g in gids)
    wait_for(all_succeed, 60, "every message to succeed")
    calls = collections.Counter(c.params.get("gid") for c in app.calls("/svc/slow"))
    assert {g: n for g, n in calls.items() if n != 1} == {}, "a step delivered twice"
    assert set(calls) == set(gids)


def test_kill9_then_restart_with_the_same_id_resumes_its_leases_at_once(app, relay):
    # the first call of each message hangs past the kill; the second answers at once
    app.set_default("/svc/step", delay=0)
    app.queue("/svc/step", delay=30, times=8)
    r = relay(relay_id="phoenix", lease=60, request_timeout=20)
    gids = [new_gid("ph%d" % i) for i in range(8)]
    for g in gids:
        assert r.post("submit", msg_body(g, [app.url("/svc/step")]))[0] == 200
    wait_for(lambda: app.inflight("/svc/step") >= 8, 10, "8 calls in flight")
    r.kill(signal.SIGKILL)

    r.start()
    # leased for another 60 s by the dead process: only taking them back makes this quick
    wait_for(lambda: all(r.state(g) == "succeed" for g in gids), 10,
             "the dead relay's leased messages to succeed well before --lease")
    logged = r.log_tail()
    assert "took over the relay id from a dead relay" in logged, logged


def test_a_relay_whose_id_was_taken_over_stops_claiming_and_says_so(app, relay, tmp_path):
    store = tmp_path / "shared.db"
    first = relay(relay_id="shared", heartbeat=3, store="sqlite:%s" % store)
    first.kill(signal.SIGSTOP, wait=None)
    try:
        # frozen, its heartbeat lapses; then another process may take the id
        def lapsed():
            with sqlite3.connect(str(store)) as db:
                row = db.execute("SELECT heartbeat_until FROM relay_registry "
                                 "WHERE relay_id = 'shared'").fetchone()
            return row is not None and row[0] < time.time() * 1000 - 200
        wait_for(lapsed, 10, "the frozen relay's heartbeat to lapse")
        second = relay(relay_id="shared", heartbeat=3, store="sqlite:%s" % store)
    finally:
        first.kill(signal.SIGCONT, wait=None)
    wait_for(lambda: "relay id taken over by another process" in first.log_tail(), 10,
             "the first relay to notice the take-over")
    assert first.alive()
    # the first one hands nothing to itself any more: the second claims and delivers it, once
    gid = new_gid("taken")
    assert first.post("submit", msg_body(gid, [app.url("/svc/taken")]))[0] == 200
    second.wait_state(gid, "succeed", timeout=10)
    stays(lambda: app.count("/svc/taken") == 1, 1.0, "exactly one delivery")


def test_sighup_is_logged_and_does_not_stop_the_relay(app, relay):
    r = relay()
    r.kill(signal.SIGHUP, wait=None)
    wait_for(lambda: "SIGHUP ignored" in r.log_tail(), 5, "the SIGHUP log line")
    assert "does not reload" in r.log_tail()
    stays(r.alive, 0.5, "the relay running after SIGHUP")
    gid = new_gid("hup")
    assert r.post("submit", msg_body(gid, [app.url("/svc/hup")]))[0] == 200
    r.wait_state(gid, "succeed")
    rc = r.kill(signal.SIGTERM, wait=15)
    assert rc == 0, rc
