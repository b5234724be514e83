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
    assert r.state(bad) == "failed"   # committed before the answer, far from its retention
    pending = new_gid("pending")
    assert r.post("prepare", msg_body(pending, [app.url("/svc/a")], query_prepared=app.url("/qp"),
                                      timeout_to_fail=3600))[0] == 200
    # delivered: succeed, or already deleted by retention on a slow machine (None: a stored
    # message goes only once final), and the sink saw every one
    for gid in oks:
        wait_for(lambda: r.state(gid) in ("succeed", None), 10, "%s to be delivered" % gid)
    assert set(oks) <= {c.params.get("gid") for c in app.calls("/svc/b")}
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


# --------------------------------------------------------------------------
# msgrelay barrier-prune: an app's barrier rows
# --------------------------------------------------------------------------

def barrier_table(mariadb, name):
    """A fresh database @name with a barrier table shaped as sql/barrier/mysql.sql's."""
    mariadb.create_database(name)
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "sql", "barrier",
                           "mysql.sql")) as f:
        ddl = f.read()
    start = ddl.index("CREATE TABLE IF NOT EXISTS dtm_barrier.barrier")
    ddl = ddl[start:ddl.index(";", start) + 1].replace("dtm_barrier.barrier", "barrier")
    mariadb.sql(ddl, name)
    return "%s.barrier" % name


def prune(*args):
    import subprocess
    from conftest import relay_binary
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    return subprocess.run([relay_binary(), "barrier-prune"] + list(args), capture_output=True,
                          text=True, timeout=60, env=env)


def test_barrier_prune_deletes_old_msg_rows_in_batches_and_refuses_short_cutoffs(mariadb,
                                                                                 request):
    import json
    name = db_name(request)
    table = barrier_table(mariadb, name)
    uri = mariadb.uri(name)
    rows = []
    for i in range(5):   # old message rows: the producer's and a step's
        rows.append("('msg','old-%d','00','msg','01','msg',NOW() - INTERVAL 3 HOUR)" % i)
    for i in range(2):   # young ones
        rows.append("('msg','young-%d','01','action','01','action',NOW() - INTERVAL 10 MINUTE)" % i)
    # an old row of another transaction type sharing the table
    rows.append("('saga','saga-1','01','action','01','action',NOW() - INTERVAL 3 HOUR)")
    mariadb.sql("INSERT INTO barrier (trans_type, gid, branch_id, op, barrier_id, reason, "
                "create_time) VALUES " + ",".join(rows), name)

    def count():
        return int(mariadb.sql("SELECT count(*) FROM barrier", name).strip())

    # a cutoff under an hour is refused without --force, and nothing is deleted
    p = prune("--db", uri, "--older-than", "30m", "--table", table)
    assert p.returncode == 2 and "under 1h" in p.stderr, p
    assert count() == 8

    p = prune("--db", uri, "--older-than", "2h", "--table", table, "--batch", "2",
              "--pause-ms", "0")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"deleted": 5, "table": table, "older_than": "2h"}
    assert sorted(mariadb.sql("SELECT gid FROM barrier", name).split()) == \
        ["saga-1", "young-0", "young-1"]

    p = prune("--db", uri, "--older-than", "5m", "--table", table, "--force")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["deleted"] == 2
    assert mariadb.sql("SELECT gid FROM barrier", name).split() == ["saga-1"]

    # bad input: a table name that is not one, a bad duration, no --db
    p = prune("--db", uri, "--older-than", "2h", "--table", "x; DROP TABLE barrier")
    assert p.returncode == 2 and "table" in p.stderr, p
    p = prune("--db", uri, "--older-than", "2 hours")
    assert p.returncode == 2 and "--older-than" in p.stderr, p
    assert prune("--older-than", "2h").returncode == 2
    assert count() == 1
