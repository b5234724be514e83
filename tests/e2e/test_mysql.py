# SPDX-License-Identifier: MIT
"""The MySQL/MariaDB store end to end: the life cycle on MySQL, `msgrelay migrate`
and `serve --migrate`, three relays sharing one database while one is killed,
the database restarting under load, and the submit of a message its relay
prepared and remembers while another relay changed it.

Every test gets its own database on the session's private mariadbd (the
`mariadb` fixture), except the restart test, which stops and starts a server of
its own. Synchronisation is polling with deadlines; the load generators pace
themselves with short sleeps, which is load shaping, not synchronisation.
"""
import collections
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import free_port, relay_binary
from e2e_helpers import msg_body, new_gid, stays, wait_for
from mariadb import MariaDB


def migrate(uri):
    """`msgrelay migrate --store URI`; returns the completed process (asserting success)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([relay_binary(), "migrate", "--store", uri], capture_output=True,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0, "migrate failed (%s): %s" % (p.returncode, p.stderr)
    return p


def fresh_uri(db, name, migrated=True):
    """A new empty database @name on server @db, migrated unless told otherwise; its URI."""
    uri = db.uri(db.create_database(name))
    if migrated:
        migrate(uri)
    return uri


def db_name(request):
    """A database name from the test's name (MySQL allows 64 characters)."""
    return "e2e_" + re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:56]


def states(db, database, gids=None):
    """{gid: state} of every message (or of @gids) in @database."""
    out = {}
    for line in db.sql("SELECT gid, state FROM msg", database).splitlines():
        gid, state = line.split("\t")
        out[gid] = state
    if gids is not None:
        out = {g: out.get(g) for g in gids}
    return out


@pytest.fixture
def mysql_uri(mariadb, request):
    """A fresh, migrated database for this test."""
    return fresh_uri(mariadb, db_name(request))


# ---------------------------------------------------------------- one relay on MySQL

def test_lifecycle_on_mysql_submit_prepare_abort_backcheck_and_query(app, relay, mysql_uri):
    r = relay(store=mysql_uri, relay_id="solo")

    # submit without prepare: both steps, in order, payloads verbatim
    g1 = new_gid("my")
    body = msg_body(g1, [app.url("/svc/a"), app.url("/svc/b")], ['{"n":1}', "caf\u00e9"])
    assert r.post("submit", body) == (200, {"dtm_result": "SUCCESS"})
    q = r.wait_state(g1, "succeed")
    assert [b["status"] for b in q["branches"]] == ["succeed", "succeed"]
    a = app.wait_calls("/svc/a", 1)[0]
    b = app.wait_calls("/svc/b", 1)[0]
    assert a.body == b'{"n":1}' and b.body == "caf\u00e9".encode("utf-8")
    assert b.t >= a.t_end

    # prepare, a repeat keeps the first data, then submit
    g2 = new_gid("my")
    body = msg_body(g2, [app.url("/svc/c")], query_prepared=app.url("/qp"))
    assert r.post("prepare", body)[0] == 200
    assert r.post("prepare", body)[0] == 200
    assert r.state(g2) == "prepared"
    assert r.post("submit", body)[0] == 200
    r.wait_state(g2, "succeed")
    status, data = r.post("submit", body)
    assert status == 409 and "succeed" in data["message"], (status, data)

    # abort
    g3 = new_gid("my")
    assert r.post("prepare", msg_body(g3, [app.url("/svc/never")]))[0] == 200
    assert r.post("abort", {"gid": g3, "trans_type": "msg"})[0] == 200
    assert r.state(g3) == "failed"

    # a prepared message left alone: the back-check says rolled back -> failed, nothing delivered
    g4 = new_gid("my")
    app.set_default("/qp-no", status=409, body={"dtm_result": "FAILURE"})
    assert r.post("prepare", msg_body(g4, [app.url("/svc/never")], query_prepared=app.url("/qp-no"),
                                      timeout_to_fail=1))[0] == 200
    r.wait_state(g4, "failed", timeout=15)
    assert app.count("/svc/never") == 0

    listed = [t["gid"] for t in r.all(limit=10)["transactions"]]
    assert listed[:4] == [g4, g3, g2, g1], listed


def test_serve_needs_the_schema_and_migrate_is_idempotent(app, relay, mariadb, request, tmp_path):
    uri = fresh_uri(mariadb, db_name(request), migrated=False)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([relay_binary(), "serve", "--store", uri, "--port", str(port),
                        "--bind", "127.0.0.1"], capture_output=True, text=True, timeout=30, env=env,
                       cwd=str(tmp_path))
    assert p.returncode == 1, p
    assert "msgrelay migrate" in p.stderr, p.stderr
    assert ":msgrelay@" not in p.stderr, "the password was logged: %s" % p.stderr

    # --migrate at start-up creates it; migrate after that has nothing to do
    r = relay(store=uri, extra_args=["--migrate"])
    logged = "\n".join(l for l in r.log_tail().splitlines() if l.startswith("{"))
    assert "store schema is current" in logged
    assert ":***@" in logged and ":msgrelay@" not in logged, "the password was logged"
    gid = new_gid("mig")
    assert r.post("submit", msg_body(gid, [app.url("/svc/m")]))[0] == 200
    r.wait_state(gid, "succeed")
    migrate(uri)
    migrate(uri)
    assert mariadb.sql("SELECT count(*) FROM schema_version", db_name(request)).strip() == "10"


# ---------------------------------------------------------------- one process per relay id

def test_a_relay_id_held_on_the_database_refuses_a_second_process(app, relay, mysql_uri, mariadb,
                                                                  request, tmp_path):
    first = relay(store=mysql_uri, relay_id="only-one")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([relay_binary(), "serve", "--store", mysql_uri, "--port", str(free_port()),
                        "--bind", "127.0.0.1", "--relay-id", "only-one"], capture_output=True,
                       text=True, timeout=30, env=env, cwd=str(tmp_path))
    assert p.returncode == 1, p
    assert "relay id 'only-one' is held by a live relay" in p.stderr, p.stderr
    assert "pid %d" % first.proc.pid in p.stderr, p.stderr
    row = mariadb.sql("SELECT relay_id, pid FROM relay_registry", db_name(request)).split()
    assert row == ["only-one", str(first.proc.pid)], row
    # the first one is unaffected, and a clean stop frees the id at once
    gid = new_gid("one")
    assert first.post("submit", msg_body(gid, [app.url("/svc/one")]))[0] == 200
    first.wait_state(gid, "succeed")
    first.stop()
    assert mariadb.sql("SELECT count(*) FROM relay_registry", db_name(request)).strip() == "0"


# ---------------------------------------------------------------- three relays, one killed

def test_three_relays_share_one_database_and_take_over_a_killed_relays_work(
        app, relay, mariadb, mysql_uri, request):
    _three_relays_one_killed(app, relay, mariadb, mysql_uri, db_name(request))


def _three_relays_one_killed(app, relay, mariadb, mysql_uri, database):
    """300 messages submitted round-robin to three relays; the second is SIGKILLed halfway.
    Every acknowledged message ends succeed; a step is called twice only for messages the
    killed relay held a lease on when it died. @mariadb is the server of @mysql_uri (a
    MariaDB or a Postgres), @database its database."""
    app.set_default("/svc/one", delay=0.01)
    app.set_default("/svc/two", delay=0.01)
    flags = dict(store=mysql_uri, lease=3, request_timeout=1, retry_interval=1,
                 poll_interval_ms=100, claim_batch=32)
    relays = [relay(relay_id="r%d" % i, **flags) for i in range(3)]
    victim = relays[1]
    total = 300
    acked = []
    refused = []
    leased_at_kill = set()

    for i in range(total):
        gid = "tr-%03d-%s" % (i, new_gid("")[1:])
        body = msg_body(gid, [app.url("/svc/one"), app.url("/svc/two")])
        if i == total // 2:
            victim.kill()
            # what the dead relay held: only these may see a step twice
            leased_at_kill = set(mariadb.sql(
                "SELECT gid FROM msg WHERE owner = 'r1' AND state IN ('prepared', 'submitted')",
                database).split())
        for k in range(3):
            r = relays[(i + k) % 3]
            try:
                status, data = r.post("submit", body, timeout=10)
            except OSError:
                refused.append(gid)
                continue
            assert status == 200, (status, data)
            acked.append(gid)
            break
        time.sleep(0.005)

    def all_succeed():
        st = states(mariadb, database, acked)
        left = [g for g, s in st.items() if s != "succeed"]
        return not left or None
    wait_for(all_succeed, 40, lambda: "every acknowledged message to succeed; not yet: %r"
             % sorted(g for g, s in states(mariadb, database, acked).items() if s != "succeed")[:20])

    calls = collections.Counter((c.params.get("gid"), c.path) for c in app.calls()
                                if c.path in ("/svc/one", "/svc/two"))
    for gid in acked:
        assert calls[(gid, "/svc/one")] >= 1 and calls[(gid, "/svc/two")] >= 1, gid
    dup_gids = sorted({gid for (gid, _), n in calls.items() if n > 1})
    dup_calls = sum(n - 1 for n in calls.values() if n > 1)
    print("\nthree relays: %d acknowledged, %d submits refused by the killed relay; "
          "%d messages leased by it at the kill; duplicate step calls: %d (over %d messages)"
          % (len(acked), len(refused), len(leased_at_kill), dup_calls, len(dup_gids)))
    assert len(acked) == total, "a submit was refused by every relay: %r" % refused
    assert set(dup_gids) <= leased_at_kill, \
        "duplicates outside the killed relay's leases: %r" % sorted(set(dup_gids) - leased_at_kill)
    assert len(dup_gids) <= len(leased_at_kill)
    assert relays[0].alive() and relays[2].alive()
    owners = mariadb.sql("SELECT count(*) FROM msg WHERE owner <> ''", database).strip()
    assert owners == "0", "leases left behind: %s" % owners


# ---------------------------------------------------------------- the database goes away

def test_database_restart_under_load_answers_503_then_delivers_everything(app, relay, tmp_path):
    db = MariaDB(str(tmp_path / "db"))
    db.start()
    try:
        _restart_under_load(app, relay, db)
    finally:
        db.close()


def _restart_under_load(app, relay, db):
    uri = fresh_uri(db, "restart")
    r = relay(store=uri, relay_id="steady", lease=3, request_timeout=1, retry_interval=1,
              poll_interval_ms=100)
    results = []          # (gid, op, status, data), in order
    lock = threading.Lock()
    stop = threading.Event()
    errors = []

    def load():
        i = 0
        while not stop.is_set():
            gid = "rs-%04d-%s" % (i, new_gid("")[1:])
            i += 1
            body = msg_body(gid, [app.url("/svc/r")], query_prepared=app.url("/qp"))
            ops = ["prepare", "submit"] if i % 2 else ["submit"]
            for op in ops:
                try:
                    status, data = r.post(op, body, timeout=20)
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append("%s %s: %r" % (op, gid, e))
                    return
                with lock:
                    results.append((gid, op, status, data))
                if status != 200:
                    break
            time.sleep(0.003)

    def count(pred):
        with lock:
            return sum(1 for x in results if pred(x))

    t = threading.Thread(target=load, daemon=True)
    t.start()
    try:
        wait_for(lambda: count(lambda x: x[3] == {"dtm_result": "SUCCESS"}) >= 40, 20,
                 "40 acknowledged requests before the restart")
        db.stop()   # SIGTERM by PID: a clean shutdown, connections dropped
        down_at = len(results)
        wait_for(lambda: count(lambda x: x[2] == 503) >= 10, 20, "503 answers while the database "
                 "is down")
        # prepare and submit both say so, as JSON naming the store
        for op in ("prepare", "submit"):
            status, data = r.post(op, msg_body(new_gid("down"), [app.url("/svc/r")]))
            assert status == 503, (op, status, data)
            assert isinstance(data, dict) and "store" in data.get("message", ""), data
            assert "unavailable" in data["message"], data
        assert r.alive()
        db.restart()
        up_at = len(results)

        def acked_after_restart():
            with lock:
                return sum(1 for x in results[up_at:] if x[2] == 200) >= 40
        wait_for(acked_after_restart, 30, "40 acknowledged requests after the restart")
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    assert r.alive(), "the relay exited"

    with lock:
        snapshot = list(results)
    statuses = collections.Counter(s for _, _, s, _ in snapshot)
    for gid, op, status, data in snapshot:
        assert status in (200, 503), (gid, op, status, data)
        if status == 503:
            assert "store" in data.get("message", ""), data
    acked = sorted({gid for gid, op, status, _ in snapshot if op == "submit" and status == 200})
    print("\nrestart under load: %d requests (%s); %d before the stop, %d acknowledged submits"
          % (len(snapshot), dict(statuses), down_at, len(acked)))

    # every acknowledged submit is delivered, and nothing at all is left unfinished: a submit
    # whose commit outcome was unknown (503) may have landed, and then it is delivered too
    def settled():
        st = states(db, "restart")
        left = [g for g in acked if st.get(g) != "succeed"]
        stuck = [g for g, s in st.items() if s == "submitted"]
        return (not left and not stuck) or None
    wait_for(settled, 40, lambda: "every acknowledged message delivered; states: %s" % json.dumps(
        collections.Counter(states(db, "restart").values())))
    delivered = {c.params.get("gid") for c in app.calls("/svc/r")}
    missing = [g for g in acked if g not in delivered]
    assert not missing, missing[:10]
    leases = db.sql("SELECT count(*) FROM msg WHERE owner <> '' AND state = 'submitted'",
                    "restart").strip()
    assert leases == "0"

    # the outage is logged once (the relay polls every 100 ms here), and so is its end
    with open(r.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert 1 <= log.count('"msg":"store unavailable"') <= 3, log.count('"msg":"store unavailable"')
    assert '"msg":"store available again"' in log


def test_results_of_calls_made_while_the_database_is_down_are_written_when_it_is_back(
        app, relay, tmp_path):
    """Calls that end while mariadbd is stopped: their results are kept and written once it is
    back, so every message succeeds within seconds (not a --lease later) and no step is called
    twice."""
    db = MariaDB(str(tmp_path / "db"))
    db.start()
    try:
        _results_kept_while_down(app, relay, db)
    finally:
        db.close()


def _results_kept_while_down(app, relay, db):
    """The test above on server @db (a MariaDB or a Postgres, started), killed and restarted."""
    uri = fresh_uri(db, "outage")
    r = relay(store=uri, relay_id="patient", lease=60, request_timeout=10, retry_interval=1,
              poll_interval_ms=100)
    app.set_default("/svc/first", delay=2.0)
    gids = [new_gid("out%d" % i) for i in range(10)]
    for g in gids:
        body = msg_body(g, [app.url("/svc/first"), app.url("/svc/second")])
        assert r.post("submit", body)[0] == 200
    wait_for(lambda: app.inflight("/svc/first") >= len(gids), 10, "every first call in flight")
    db.stop(signal.SIGKILL)
    # the calls end while the database is down; the relay cannot write their results
    wait_for(lambda: sum(1 for c in app.calls("/svc/first") if c.completed) == len(gids), 10,
             "the first calls to complete")
    wait_for(lambda: "results kept until the store answers" in r.log_tail(), 10,
             "a failed write of the results")
    assert app.count("/svc/second") == 0
    assert r.alive()
    db.restart()
    up = time.monotonic()
    wait_for(lambda: set(states(db, "outage", gids).values()) == {"succeed"}, 15,
             lambda: "every message to succeed: %r" % states(db, "outage", gids))
    print("\nresults written and delivery finished %.1fs after the restart"
          % (time.monotonic() - up))
    calls = collections.Counter((c.params.get("gid"), c.path) for c in app.calls())
    assert {k: n for k, n in calls.items() if n != 1} == {}, "a step was called twice"
    assert len(calls) == 2 * len(gids)
    log = r.log_tail(2000)
    assert log.count('"msg":"store unavailable"') == 1, log
    assert '"msg":"store available again"' in log


# ---------------------------------------------- a prepared message remembered by its relay

STALE = '"msg":"prepared message changed since its prepare, deciding from the store"'


def two_relays(relay, uri):
    """Relays a and b on one database; a back-check far off, so only the API moves messages."""
    return relay(store=uri, relay_id="a"), relay(store=uri, relay_id="b")


def test_submit_on_the_preparing_relay_of_a_message_aborted_through_another_is_refused(
        app, relay, mysql_uri):
    a, b = two_relays(relay, mysql_uri)
    gid = new_gid("hint")
    body = msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"), timeout_to_fail=60)
    assert a.post("prepare", body) == (200, {"dtm_result": "SUCCESS"})
    assert b.post("abort", {"gid": gid, "trans_type": "msg"}) == (200, {"dtm_result": "SUCCESS"})
    # a remembers the message as prepared; its conditional write finds it failed
    status, data = a.post("submit", body)
    assert status == 409 and "current status 'failed', cannot sumbmit" in data["message"], data
    assert STALE in a.log_tail(2000) and gid in a.log_tail(2000)
    assert a.state(gid) == "failed"
    stays(lambda: app.count("/svc/a") == 0 and a.state(gid) == "failed", 1.5,
          lambda: "an aborted message stays undelivered (%d calls)" % app.count("/svc/a"))


def test_submit_on_the_preparing_relay_after_a_submit_through_another_is_answered_as_stored(
        app, relay, mysql_uri):
    a, b = two_relays(relay, mysql_uri)
    gid = new_gid("hint")
    body = msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"), timeout_to_fail=60)
    assert a.post("prepare", body)[0] == 200
    assert b.post("submit", body)[0] == 200
    b.wait_state(gid, "succeed")
    status, data = a.post("submit", body)
    assert status == 409 and "current status 'succeed', cannot sumbmit" in data["message"], data
    assert STALE in a.log_tail(2000)
    stays(lambda: app.count("/svc/a") == 1, 1.0,
          lambda: "one delivery (%d calls)" % app.count("/svc/a"))


def test_prepare_then_submit_on_one_relay_delivers_and_redelivers_a_failed_call(
        app, relay, mysql_uri):
    a, b = two_relays(relay, mysql_uri)
    gids = [new_gid("hint%d" % i) for i in range(4)]  # under the 5 failures of a sick destination
    for i, g in enumerate(gids):
        app.queue("/svc/f%d" % i, status=500, body="busy")
        body = msg_body(g, [app.url("/svc/f%d" % i)], query_prepared=app.url("/qp"),
                        timeout_to_fail=60)
        assert a.post("prepare", body)[0] == 200
        assert a.post("submit", body) == (200, {"dtm_result": "SUCCESS"})
    for g in gids:
        a.wait_state(g, "succeed", timeout=20)
    for i, g in enumerate(gids):  # the refusal, then the success
        assert [c.status for c in app.calls("/svc/f%d" % i)] == [500, 200]
    assert STALE not in a.log_tail(5000)
    assert app.count("/qp") == 0


def test_kill9_between_prepare_and_submit_loses_nothing(app, relay, mysql_uri):
    a, b = two_relays(relay, mysql_uri)
    g1, g2 = new_gid("hint"), new_gid("hint")
    bodies = {g: msg_body(g, [app.url("/svc/a")], query_prepared=app.url("/qp"),
                          timeout_to_fail=60) for g in (g1, g2)}
    for g in (g1, g2):
        assert a.post("prepare", bodies[g])[0] == 200
    a.kill(signal.SIGKILL)
    assert not a.alive()
    # the memory of the prepares died with the process; the store has them
    assert b.post("submit", bodies[g1]) == (200, {"dtm_result": "SUCCESS"})
    a.restart()
    assert a.post("submit", bodies[g2]) == (200, {"dtm_result": "SUCCESS"})
    for g in (g1, g2):
        b.wait_state(g, "succeed", timeout=20)
    per_gid = collections.Counter(c.params.get("gid") for c in app.calls("/svc/a"))
    assert per_gid == {g1: 1, g2: 1}, per_gid


def test_prepare_of_a_gid_another_relay_stored_is_answered_as_stored(app, relay, mysql_uri):
    a, b = two_relays(relay, mysql_uri)
    g1, g2 = new_gid("hint"), new_gid("hint")
    first = msg_body(g1, [app.url("/svc/first")], query_prepared=app.url("/qp"),
                     timeout_to_fail=60)
    assert a.post("prepare", first)[0] == 200
    # b takes a gid it never saw for new; the insert finds it stored: a repeat, first data kept
    again = msg_body(g1, [app.url("/svc/again")], query_prepared=app.url("/qp"),
                     timeout_to_fail=60)
    assert b.post("prepare", again) == (200, {"dtm_result": "SUCCESS"})
    assert [s["url"] for s in b.query(g1)["branches"]] == [app.url("/svc/first")]
    assert a.post("prepare", msg_body(g2, [app.url("/svc/first")]))[0] == 200
    assert a.post("abort", {"gid": g2, "trans_type": "msg"})[0] == 200
    status, data = b.post("prepare", msg_body(g2, [app.url("/svc/first")]))
    assert status == 409 and "current status 'failed', cannot prepare" in data["message"], data
    assert b.post("submit", first) == (200, {"dtm_result": "SUCCESS"})
    b.wait_state(g1, "succeed")
    stays(lambda: app.count("/svc/first") == 1 and app.count("/svc/again") == 0, 1.0,
          lambda: "one delivery, of the first data (%r)" % app.calls())
