# SPDX-License-Identifier: MIT
"""The PostgreSQL store end to end, beside what the whole suite checks on it with
MSGRELAY_E2E_STORE=postgres: `msgrelay migrate` and `serve --migrate`, one
process per relay id, and the database restarting under load (503 while it is
down, recovery without a restart of the relay, nothing acknowledged lost; the
server killed while calls are in flight), and three relays sharing one database
while one is killed.

Every test gets its own database on the session's private PostgreSQL server
(the `postgres` fixture), except the tests that stop the database, which start a
server of their own. The scenarios and their checks are test_mysql.py's.
"""
import json
import os
import re
import subprocess

import pytest

from conftest import free_port, relay_binary
from e2e_helpers import msg_body, new_gid
from postgres import Postgres
from test_cli import schema_versions
from test_mysql import (_restart_under_load, _results_kept_while_down, _three_relays_one_killed,
                        fresh_uri)


def db_name(request):
    """A database name from the test's name (PostgreSQL allows 63 bytes)."""
    return "e2e_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:56]


@pytest.fixture
def pg_uri(postgres, request):
    """A fresh, migrated database for this test."""
    return fresh_uri(postgres, db_name(request))


def test_serve_needs_the_schema_and_migrate_is_idempotent(app, relay, postgres, request, tmp_path):
    uri = fresh_uri(postgres, db_name(request), migrated=False)
    assert uri.startswith("postgres://")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([relay_binary(), "serve", "--store", uri, "--port", str(free_port()),
                        "--bind", "127.0.0.1"], capture_output=True, text=True, timeout=30, env=env,
                       cwd=str(tmp_path))
    assert p.returncode == 1, p
    assert "msgrelay migrate" in p.stderr, p.stderr
    assert ":msgrelay@" not in p.stderr, "the password was logged: %s" % p.stderr

    # --migrate at start-up creates it (the postgresql:// spelling too); migrate after that
    # has nothing to do
    r = relay(store="postgresql:" + uri[len("postgres:"):], extra_args=["--migrate"])
    logged = "\n".join(l for l in r.log_tail().splitlines() if l.startswith("{"))
    assert "store schema is current" in logged
    assert '"msg":"store migration applied","version":"1","name":"init"' in logged, logged
    assert ":***@" in logged and ":msgrelay@" not in logged, "the password was logged"
    latest = schema_versions("postgres")[-1][0]
    gid = new_gid("mig")
    assert r.post("submit", msg_body(gid, [app.url("/svc/m")], ["caf\u00e9 \x01 '\"\\"]))[0] == 200
    r.wait_state(gid, "succeed")
    assert app.wait_calls("/svc/m", 1)[0].body == "caf\u00e9 \x01 '\"\\".encode("utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    for _ in range(2):
        p = subprocess.run([relay_binary(), "migrate", "--store", uri], capture_output=True,
                           text=True, timeout=60, env=env)
        assert p.returncode == 0, p.stderr
        assert p.stdout == "store schema already at version %d, nothing to apply\n" % \
            latest, p.stdout
    assert postgres.sql("SELECT count(*) FROM schema_version",
                        db_name(request)).strip() == str(latest)
    # the commands that read the store take its URI as serve does
    p = subprocess.run([relay_binary(), "show", gid, "--store", uri], capture_output=True,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == r.query(gid)


def test_migrate_prints_each_migration_it_applies(postgres, request):
    uri = fresh_uri(postgres, db_name(request), migrated=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([relay_binary(), "migrate", "--store", uri], capture_output=True,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    files = schema_versions("postgres")
    assert p.stdout.splitlines() == ["applied migration %03d %s" % f for f in files] + \
        ["store schema is at version %d" % files[-1][0]]
    assert ":msgrelay@" not in p.stdout + p.stderr


def test_a_relay_id_held_on_the_database_refuses_a_second_process(app, relay, pg_uri, postgres,
                                                                  request, tmp_path):
    first = relay(store=pg_uri, relay_id="only-one")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([relay_binary(), "serve", "--store", pg_uri, "--port", str(free_port()),
                        "--bind", "127.0.0.1", "--relay-id", "only-one"], capture_output=True,
                       text=True, timeout=30, env=env, cwd=str(tmp_path))
    assert p.returncode == 1, p
    assert "relay id 'only-one' is held by a live relay" in p.stderr, p.stderr
    row = postgres.sql("SELECT relay_id, pid FROM relay_registry", db_name(request)).split()
    assert row == ["only-one", str(first.proc.pid)], row
    first.stop()
    assert postgres.sql("SELECT count(*) FROM relay_registry", db_name(request)).strip() == "0"


def test_three_relays_share_one_database_and_take_over_a_killed_relays_work(
        app, relay, postgres, pg_uri, request):
    _three_relays_one_killed(app, relay, postgres, pg_uri, db_name(request))


def test_database_restart_under_load_answers_503_then_delivers_everything(app, relay):
    db = Postgres()
    db.start()
    try:
        _restart_under_load(app, relay, db)
    finally:
        db.close()


def test_results_of_calls_made_while_the_database_is_down_are_written_when_it_is_back(
        app, relay):
    """The server killed (SIGKILL) while calls are in flight: their results are kept and
    written once it is back, and no step is called twice."""
    db = Postgres()
    db.start()
    try:
        _results_kept_while_down(app, relay, db)
    finally:
        db.close()
