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
    records after them are still applied;
  - the server stopped under a running consumer: waited out, not parked,
    applied once after the restart.
"""
import os

import pytest

from conftest import REPO
from e2e_helpers import new_gid, wait_for
from postgres import Postgres
# applied() reads table `applied` of database DBNAME ("shop") on either engine
from test_consumer import (DBNAME, applied, applied_once, consumer_factory,  # noqa: F401
                           kmock, poison_is_parked, redelivery_is_skipped, submit)
from test_kafka import topic_name


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


def test_pg_kafka_step_is_applied_once(kmock, relay, consumers, db):  # noqa: F811
    applied_once(relay(kafka_brokers=kmock.bootstrap), consumers, db, "p1")


def test_pg_consumer_killed_before_offset_commit_skips_the_redelivered_record(
        kmock, relay, consumers, db):  # noqa: F811
    redelivery_is_skipped(relay(kafka_brokers=kmock.bootstrap), consumers, db, "p2")


def test_pg_poison_record_is_parked_and_the_next_ones_are_applied(kmock, relay, consumers,
                                                                  db):  # noqa: F811
    def parked_of(topic):
        rows = db.sql("SELECT gid, attempts, convert_from(payload, 'UTF8'), reason "
                      "FROM dtm_barrier.parked WHERE topic = '%s' ORDER BY kafka_offset" % topic,
                      database=DBNAME)
        return [ln.split("\t") for ln in rows.splitlines()]
    poison_is_parked(relay(kafka_brokers=kmock.bootstrap), kmock, consumers, "p4",
                     lambda gids: applied(db, gids), parked_of,
                     lambda gid: int(db.sql("SELECT COUNT(*) FROM dtm_barrier.barrier "
                                            "WHERE gid = '%s'" % gid, database=DBNAME).strip()))


def test_pg_database_down_is_waited_out_and_the_record_applied_once(kmock, relay, consumers,
                                                                      db):  # noqa: F811
    """The server stops under a running consumer: its connection is seen lost
    (not the record's fault: no attempt counted, nothing parked), it reconnects
    with back-off once the server is back, and the record is applied once."""
    r = relay(kafka_brokers=kmock.bootstrap)
    topic = topic_name("p5")
    before, during = new_gid("p5-before"), new_gid("p5-during")
    c = consumers(topic, topic + "-g", "--max-attempts", "2")
    submit(r, topic, before)
    c.wait_line("applied", before, timeout=30)
    db.stop()
    try:
        submit(r, topic, during)
        wait_for(lambda: "database trouble" in c.log(), 30,
                 lambda: "the consumer to wait out the database; log:\n" + c.log()[-3000:])
    finally:
        db.restart()
    c.wait_line("applied", during, timeout=60)
    assert applied(db, [before, during]) == {before: 1, during: 1}
    assert not c.lines("parked"), c.log()[-3000:]
