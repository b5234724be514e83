# SPDX-License-Identifier: MIT
"""The C SDK's barrier on PostgreSQL, against the real relay and a private
PostgreSQL server (tests/e2e/postgres.py): do_and_submit_db_pg committing and
rolling back, the QueryPrepared answers (a back-check before the local
transaction refuses it for good; one during an open local transaction waits
for its end and answers what it did), a repeated TransIn credited once, and
`msgrelay barrier-prune --db postgres://`.

The application is the transfer example (examples/transfer) run with
--db postgres://, on sql/barrier/postgres.sql and its schema_postgres.sql.
"""
import os
import subprocess

import pytest

from e2e_helpers import new_gid, stays, wait_for
from postgres import Postgres, _as_server, SERVER_USER
# the relay, the banks, the survivor bank, fresh accounts and the scenarios that need no
# MySQL-only tool are test_sdk.py's, here on this file's PostgreSQL `db`
from test_sdk import (MSG_ROW, ROLLBACK_ROW, STEP_ROW, Background, accounts,  # noqa: F401
                      backcheck_first_refuses, balances, banks, barrier_rows,
                      business_failure_aborts, moves_the_money, relay, survivor)


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def db():
    with Postgres() as p:
        p.create_database("bank")
        yield p


def open_local_transaction(db, gid, end, seconds):
    """A producer's local transaction on @gid held open for @seconds by a psql
    of its own, ending with @end (COMMIT or ROLLBACK); returns the process once
    its barrier row is inserted (its pg_sleep is running)."""
    script = ("BEGIN;\n"
              "INSERT INTO dtm_barrier.barrier (trans_type, gid, branch_id, op, barrier_id, reason) "
              "VALUES ('msg', '%s', '00', 'msg', '01', 'msg');\n"
              "SELECT pg_sleep(%s);\n%s;\n" % (gid, seconds, end))
    proc = subprocess.Popen(
        [os.path.join(db.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
         "-h", db.socket_dir, "-p", str(db.port), "-U", SERVER_USER, "-d", "bank"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        cwd=db.dir, **_as_server())
    proc.stdin.write(script)
    proc.stdin.close()

    def sleeping():
        assert proc.poll() is None, "psql ended early: %s" % proc.stderr.read()
        return db.sql("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                      "AND query LIKE 'SELECT pg_sleep%'").strip() == "1"
    wait_for(sleeping, 20, "the local transaction to hold its barrier row")
    return proc


# --------------------------------------------------------------------------
# do_and_submit_db_pg and the barrier
# --------------------------------------------------------------------------

def test_pg_do_and_submit_moves_the_money(db, relay, survivor, accounts):
    moves_the_money(db, relay, survivor, accounts, "pg")


def test_pg_business_failure_rolls_back_and_aborts(db, relay, survivor, accounts):
    business_failure_aborts(db, relay, survivor, accounts, "pg")


def test_pg_backcheck_first_refuses_the_late_transaction(db, relay, survivor, accounts):
    backcheck_first_refuses(db, relay, survivor, accounts, "pg")


@pytest.mark.parametrize("end,expect", [("COMMIT", (200, {"dtm_result": "SUCCESS"}), ),
                                        ("ROLLBACK", (409, {"dtm_result": "FAILURE"}))])
def test_pg_backcheck_waits_for_an_open_local_transaction(db, survivor, end, expect):
    """The back-check's insert waits on the open transaction's key; once that
    ends, the answer is what it did: committed, or refused for good."""
    gid = new_gid("pg-open")
    proc = open_local_transaction(db, gid, end, 3)
    try:
        bg = Background(lambda: survivor.query_prepared(gid))
        stays(lambda: not bg.done(), 1, "the back-check waiting for the local transaction")
        assert bg.result(30) == expect
        assert proc.wait(10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert barrier_rows(db, gid) == [MSG_ROW if end == "COMMIT" else ROLLBACK_ROW]


def test_pg_trans_in_credits_once(db, survivor, accounts):
    _, b = accounts
    gid = new_gid("pg-in")
    for _ in range(3):
        status, ans = survivor.trans_in(gid, b, 30)
        assert (status, ans) == (200, {"dtm_result": "SUCCESS"})
    assert balances(db, b) == ("1030.00",)
    assert barrier_rows(db, gid) == [STEP_ROW]
    # a bad step (no op) is refused without touching anything
    status, _ = survivor.trans_in(gid, b, 30, branch_id="")
    assert status == 400
    assert balances(db, b) == ("1030.00",)


def test_pg_transfer_refuses_an_unknown_scheme(tmp_path):
    from sdk_helpers import transfer_binary
    p = subprocess.run([transfer_binary(), "--db", "sqlite:///x.db"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2 and "postgres://" in p.stderr, p


# --------------------------------------------------------------------------
# msgrelay barrier-prune on PostgreSQL
# --------------------------------------------------------------------------

def prune(*args):
    from conftest import relay_binary
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    return subprocess.run([relay_binary(), "barrier-prune"] + list(args), capture_output=True,
                          text=True, timeout=60, env=env)


def test_pg_barrier_prune_deletes_old_msg_rows_in_batches(db):
    import json
    db.create_database("prune")
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "sql", "barrier",
                           "postgres.sql")) as f:
        ddl = f.read()
    db.sql(ddl.replace("dtm_barrier", "app"), database="prune")
    db.sql("GRANT ALL ON SCHEMA app TO msgrelay; GRANT ALL ON ALL TABLES IN SCHEMA app TO msgrelay",
           database="prune")
    rows = ["('msg','old-%d','00','msg','01','msg',now() - interval '3 hours')" % i
            for i in range(5)]
    rows += ["('msg','young-%d','01','action','01','action',now() - interval '10 minutes')" % i
             for i in range(2)]
    rows.append("('saga','saga-1','01','action','01','action',now() - interval '3 hours')")
    db.sql("INSERT INTO app.barrier (trans_type, gid, branch_id, op, barrier_id, reason, "
           "create_time) VALUES " + ",".join(rows), database="prune")

    def gids():
        return sorted(db.sql("SELECT gid FROM app.barrier", database="prune").split())

    uri = db.uri("prune")
    p = prune("--db", uri, "--older-than", "30m", "--table", "app.barrier")
    assert p.returncode == 2 and "under 1h" in p.stderr, p
    assert len(gids()) == 8
    p = prune("--db", uri, "--older-than", "2h", "--table", "app.barrier", "--batch", "2",
              "--pause-ms", "0")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"deleted": 5, "table": "app.barrier", "older_than": "2h"}
    assert gids() == ["saga-1", "young-0", "young-1"]
    # a table that is not there: a database error, exit 1, nothing printed as deleted
    p = prune("--db", uri, "--older-than", "2h", "--table", "app.nothere")
    assert p.returncode == 1 and "nothere" in p.stderr, p
    assert "msgrelay:msgrelay" not in p.stderr and "msgrelay@" not in p.stderr
