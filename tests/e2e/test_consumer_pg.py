# SPDX-License-Identifier: MIT
"""The Kafka consumer SDK on PostgreSQL (include/msgrelay/consumer_pg.h) end
to end: the real relay produces kafka:// steps to librdkafka's mock cluster,
the example consumer (examples/consumer, --db postgres://) applies each
record once to table `applied` of a private PostgreSQL server, through the
barrier of msgrelay/barrier_pg.h:

  - produced once, applied once;
  - consumer SIGKILLed between its database commit and its offset commit:
    the record comes again and is skipped by the barrier;
  - a poison record is parked (dtm_barrier.parked, bytea payload) after N
    failed attempts, a record without barrier headers at once, and the
    records after them are still applied.
"""
import os
import subprocess

import pytest

from conftest import REPO
from e2e_helpers import msg_body, new_gid, stays
from postgres import Postgres
from test_consumer import consumer_factory, kmock, submit  # noqa: F401 (kmock: a fixture)
from test_kafka import KCAT, topic_name

DBNAME = "shop"


@pytest.fixture(scope="module")
def db():
    with Postgres() as p:
        p.create_database(DBNAME)
        for f in ("sql/barrier/postgres.sql", "examples/consumer/schema_postgres.sql"):
            with open(os.path.join(REPO, f)) as fh:
                p.sql(fh.read(), database=DBNAME)
        p.sql("GRANT ALL ON SCHEMA dtm_barrier TO msgrelay; "
              "GRANT ALL ON ALL TABLES IN SCHEMA dtm_barrier TO msgrelay; "
              "GRANT ALL ON ALL SEQUENCES IN SCHEMA dtm_barrier TO msgrelay; "
              "GRANT ALL ON ALL TABLES IN SCHEMA public TO msgrelay", database=DBNAME)
        yield p


@pytest.fixture
def consumers(tmp_path, db, kmock):  # noqa: F811 (kmock: the imported fixture)
    yield from consumer_factory(tmp_path, db.uri(DBNAME), kmock)


def applied(db, gids):
    out = db.sql("SELECT gid, n FROM applied WHERE gid IN (%s)"
                 % ",".join("'%s'" % g for g in gids), database=DBNAME)
    return {g: int(n) for g, n in (ln.split("\t") for ln in out.splitlines())}


def test_pg_kafka_step_is_applied_once(kmock, relay, consumers, db):  # noqa: F811
    r = relay(kafka_brokers=kmock.bootstrap)
    topic = topic_name("p1")
    gid = new_gid("p1")
    submit(r, topic, gid)
    r.wait_state(gid, "succeed")
    c = consumers(topic, topic + "-g")
    c.wait_line("applied", gid)
    assert applied(db, [gid]) == {gid: 1}
    rows = db.sql("SELECT branch_id, op, barrier_id, reason FROM dtm_barrier.barrier "
                  "WHERE gid = '%s'" % gid, database=DBNAME)
    assert rows.split() == ["01", "action", "01", "action"]
    stays(lambda: len(c.lines("applied")) == 1 and not c.lines("duplicate"), 1.0,
          "one record, applied once")
    assert applied(db, [gid]) == {gid: 1}


def test_pg_consumer_killed_before_offset_commit_skips_the_redelivered_record(
        kmock, relay, consumers, db):  # noqa: F811
    r = relay(kafka_brokers=kmock.bootstrap)
    topic = topic_name("p2")
    group = topic + "-g"
    gid = new_gid("p2")
    submit(r, topic, gid)
    first = consumers(topic, group, "--die-after-apply", "1")
    first.wait_line("applied", gid)
    assert first.proc.wait(15) == 9, first.log()
    assert applied(db, [gid]) == {gid: 1}
    second = consumers(topic, group)
    second.wait_line("duplicate", gid, timeout=30)
    assert applied(db, [gid]) == {gid: 1}
    assert not second.lines("applied")


def test_pg_poison_record_is_parked_and_the_next_ones_are_applied(kmock, relay, consumers,
                                                                  db):  # noqa: F811
    r = relay(kafka_brokers=kmock.bootstrap)
    topic = topic_name("p4")
    keyed = "kafka://%s?key=one-partition" % topic
    poison, after = new_gid("p4-poison"), new_gid("p4-after")
    for g, payload in ((poison, "POISON"), (after, "fine")):
        status, data = r.post("submit", msg_body(g, [keyed], payloads=[payload]))
        assert status == 200, data
        r.wait_state(g, "succeed")
    subprocess.run([KCAT, "-P", "-b", kmock.bootstrap, "-t", topic, "-k", "one-partition"],
                   input="no headers here\n", text=True, check=True, timeout=20)
    last = new_gid("p4-last")
    status, data = r.post("submit", msg_body(last, [keyed], payloads=["fine too"]))
    assert status == 200, data

    c = consumers(topic, topic + "-g", "--fail-on", "POISON", "--max-attempts", "3")
    c.wait_line("parked", poison)
    c.wait_line("applied", last)
    assert len([ln for ln in c.lines("failing") if ln[1] == poison]) == 3
    assert applied(db, [poison, after, last]) == {after: 1, last: 1}
    rows = db.sql("SELECT gid, attempts, convert_from(payload, 'UTF8'), reason "
                  "FROM dtm_barrier.parked WHERE topic = '%s' ORDER BY kafka_offset" % topic,
                  database=DBNAME)
    parked = [ln.split("\t") for ln in rows.splitlines()]
    assert len(parked) == 2, parked
    assert parked[0][:3] == [poison, "3", "POISON"]
    assert "callback failed" in parked[0][3]
    assert parked[1][:3] == ["", "0", "no headers here"]
    assert parked[1][3] == "record header 'gid' missing"
    assert db.sql("SELECT COUNT(*) FROM dtm_barrier.barrier WHERE gid = '%s'" % poison,
                  database=DBNAME).strip() == "0"
