# SPDX-License-Identifier: MIT
"""Retention end to end (`serve --retention`): finished messages (succeed, failed) leave the
store once they are older than the retention, with their steps; unfinished ones stay; 0
keeps everything; two relays sharing one MariaDB delete each message once, without errors.

Each test runs the real binary with a retention of 2 s (ticks every second), so a finished
message must be gone within a few seconds. Synchronisation is polling with deadlines
(wait_for, stays).
"""
import os
import re

import pytest

from e2e_helpers import msg_body, new_gid, stays, wait_for
from test_mysql import fresh_uri, db_name

RETENTION_S = 2
# retention, a tick (1 s at this retention), a little slack for a loaded machine
GONE_WITHIN = RETENTION_S + 6


def finish_some(app, r, n_ok=1):
    """On relay @r: @n_ok messages delivered (succeed), one aborted (failed), one prepared and
    left so (its back-check far away). Returns (succeed gids, failed gid, prepared gid)."""
    oks = []
    for _ in range(n_ok):
        gid = new_gid("keep-ok")
        status, data = r.post("submit", msg_body(gid, [app.url("/svc/a"), app.url("/svc/b")]))
        assert status == 200, data
        oks.append(gid)
    bad = new_gid("bad")
    assert r.post("prepare", msg_body(bad, [app.url("/svc/a")],
                                      query_prepared=app.url("/qp")))[0] == 200
    assert r.post("abort", {"gid": bad, "trans_type": "msg"})[0] == 200
    pending = new_gid("pending")
    assert r.post("prepare", msg_body(pending, [app.url("/svc/a")], query_prepared=app.url("/qp"),
                                      timeout_to_fail=3600))[0] == 200
    for gid in oks:
        r.wait_state(gid, "succeed")
    assert r.state(bad) == "failed"
    return oks, bad, pending


def deleted_total(r):
    m = re.search(r"^msgrelay_retention_deleted_total (\d+)$", r.metrics(), re.M)
    assert m, "no msgrelay_retention_deleted_total in /api/metrics"
    return int(m.group(1))


def assert_no_retention_errors(r):
    with open(r.log_path, errors="replace") as f:
        log = f.read()
    assert "retention batch failed" not in log, r.log_tail()


def check_retention(app, r):
    oks, bad, pending = finish_some(app, r)
    wait_for(lambda: all(r.state(g) is None for g in oks + [bad]), GONE_WITHIN,
             "the succeed and the failed message to be deleted")
    assert r.state(pending) == "prepared"
    assert r.query(oks[0]).get("branches") in ([], None)
    assert deleted_total(r) == 2
    assert_no_retention_errors(r)


def test_retention_deletes_finished_messages_and_keeps_unfinished_sqlite(app, relay, tmp_path):
    r = relay(retention="%ds" % RETENTION_S, store="sqlite:" + str(tmp_path / "ret.db"))
    check_retention(app, r)
    # and the steps are gone from the file, not only from the answers
    import sqlite3
    with sqlite3.connect(str(tmp_path / "ret.db")) as db:
        assert db.execute("SELECT count(*) FROM msg").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM step").fetchone()[0] == 1


def test_retention_deletes_finished_messages_and_keeps_unfinished_mysql(app, relay, mariadb,
                                                                        request):
    name = db_name(request)
    r = relay(retention="%ds" % RETENTION_S, store=fresh_uri(mariadb, name))
    check_retention(app, r)
    assert mariadb.sql("SELECT count(*) FROM msg", name).strip() == "1"
    assert mariadb.sql("SELECT count(*) FROM step", name).strip() == "1"


def test_retention_zero_keeps_everything(app, relay):
    r = relay(retention="0")
    oks, bad, _ = finish_some(app, r)
    stays(lambda: r.state(oks[0]) == "succeed" and r.state(bad) == "failed", 3,
          "finished messages to stay with --retention 0")
    assert deleted_total(r) == 0


def test_retention_bad_values_stop_the_start(relay):
    r = relay(retention="7w", start=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    import subprocess
    p = subprocess.run(r.argv, capture_output=True, text=True, timeout=10, env=env)
    assert p.returncode == 2
    assert "--retention: '7w' is not a duration" in p.stderr


def test_two_relays_on_one_mariadb_delete_each_message_once(app, relay, mariadb, request):
    name = db_name(request)
    uri = fresh_uri(mariadb, name)
    # small batches with no pause, so the relays would collide if both deleted at once
    flags = dict(retention="%ds" % RETENTION_S, store=uri, retention_batch=5,
                 retention_pause_ms=0)
    a = relay(**flags)
    b = relay(**flags)
    gids = []
    for r in (a, b):
        oks, bad, pending = finish_some(app, r, n_ok=15)
        gids += oks + [bad]
    wait_for(lambda: mariadb.sql("SELECT count(*) FROM msg", name).strip() == "2", GONE_WITHIN + 4,
             "every finished message to be deleted")
    assert mariadb.sql("SELECT count(*) FROM step", name).strip() == "2"
    assert sorted(mariadb.sql("SELECT state FROM msg", name).split()) == ["prepared", "prepared"]
    # deleted once: the two relays' counts add up to the messages there were
    assert deleted_total(a) + deleted_total(b) == len(gids) == 32
    for r in (a, b):
        assert_no_retention_errors(r)
