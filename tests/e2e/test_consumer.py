# SPDX-License-Identifier: MIT
"""The Kafka consumer SDK (include/msgrelay/consumer.h) end to end: the real
relay produces kafka:// steps to librdkafka's mock cluster
(tests/helpers/kafka_mock), the example consumer (examples/consumer) reads
them in a consumer group and applies each record once to table `applied` of a
private MariaDB, through the barrier.

  - produced once, applied once;
  - consumer SIGKILLed between its database commit and its offset commit:
    the record comes again and is skipped by the barrier;
  - relay SIGKILLed mid-produce: records may arrive twice, each applied once;
  - a poison record is parked after N failed attempts and the records after
    it are still applied.

Every process is stopped by PID; waits poll with deadlines.
"""
import os
import signal
import subprocess

import pytest

from conftest import REPO
from e2e_helpers import msg_body, new_gid, stays, wait_for
from mariadb import MariaDB
from sdk_helpers import build_dir
from test_kafka import KCAT, KafkaMock, kafka, topic_name  # noqa: F401 (kafka: a fixture)

DBNAME = "shop"

# the mock cluster forgets a SIGKILLed member only when its session times out
FAST_GROUP = ["-X", "session.timeout.ms=3000", "-X", "heartbeat.interval.ms=300"]


def consumer_binary():
    path = os.path.join(build_dir(), "examples", "consumer", "consumer")
    if not os.access(path, os.X_OK):
        pytest.fail("consumer example not built: %r (run make build)" % path, pytrace=False)
    return path


class Consumer:
    """One example-consumer process; its stdout and stderr go to a log file."""

    def __init__(self, workdir, name, argv):
        self.log_path = os.path.join(str(workdir), name + ".log")
        self.name = name
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([consumer_binary()] + argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def lines(self, word):
        """Output lines starting with @word, split: [[word, gid, branch, where, ...], ...]."""
        return [ln.split() for ln in self.log().splitlines() if ln.startswith(word + " ")]

    def wait_line(self, word, gid, timeout=20):
        def seen():
            if self.proc.poll() is not None and self.proc.returncode != 9:
                raise AssertionError("%s exited with %s:\n%s"
                                     % (self.name, self.proc.returncode, self.log()))
            return any(ln[1] == gid for ln in self.lines(word))
        wait_for(seen, timeout, lambda: "%s to print '%s %s'; log:\n%s"
                 % (self.name, word, gid, self.log()[-3000:]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    with MariaDB(str(tmp_path_factory.mktemp("mariadb"))) as m:
        m.create_database(DBNAME)
        for f in ("sql/barrier/mysql.sql", "examples/consumer/schema.sql"):
            with open(os.path.join(REPO, f)) as fh:
                m.sql(fh.read(), database=DBNAME)
        yield m


@pytest.fixture(scope="module")
def kmock():
    m = KafkaMock()
    try:
        yield m
    finally:
        m.stop()


def consumer_factory(tmp_path, db_uri, kmock):
    """Generator behind the consumers fixtures (this file's on MariaDB, test_consumer_pg.py's
    on PostgreSQL): yields start(topic, group, *extra) -> a started Consumer; stops them all
    after and fails on a bad exit or a sanitizer report."""
    started = []

    def start(topic, group, *extra, brokers=None):
        argv = ["--brokers", brokers or kmock.bootstrap, "--topic", topic, "--group", group,
                "--db", db_uri] + FAST_GROUP + list(extra)
        c = Consumer(tmp_path, "consumer%d" % len(started), argv)
        started.append(c)
        return c
    try:
        yield start
    finally:
        bad = []
        for c in started:
            rc = c.stop()
            if rc not in (0, 9):
                bad.append("%s exited with %s:\n%s" % (c.name, rc, c.log()[-3000:]))
            elif any(m in c.log() for m in ("AddressSanitizer", "LeakSanitizer", "runtime error:")):
                bad.append("%s: sanitizer report:\n%s" % (c.name, c.log()[-3000:]))
        if bad:
            pytest.fail("\n".join(bad), pytrace=False)


@pytest.fixture
def consumers(tmp_path, db, kmock):
    """Factory: consumers(topic, group, *extra) -> a started Consumer; all stopped at teardown."""
    yield from consumer_factory(tmp_path, db.uri(DBNAME), kmock)


def applied(db, gids):
    """{gid: n} of the `applied` rows for @gids."""
    if not gids:
        return {}
    out = db.sql("SELECT gid, n FROM applied WHERE gid IN (%s)"
                 % ",".join("'%s'" % g for g in gids), database=DBNAME)
    return {g: int(n) for g, n in (ln.split("\t") for ln in out.splitlines())}


def submit(relay, topic, gid, payload=None):
    status, data = relay.post("submit", msg_body(gid, ["kafka://" + topic],
                                                 payloads=[payload or '{"gid":"%s"}' % gid]))
    assert status == 200, data


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------

def applied_once(r, consumers, db, prefix):
    """On either database: a record produced once is applied once, with its barrier row."""
    topic = topic_name(prefix)
    gid = new_gid(prefix)
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


def test_kafka_step_is_produced_once_and_applied_once(kmock, relay, consumers, db):
    applied_once(relay(kafka_brokers=kmock.bootstrap), consumers, db, "c1")


def redelivery_is_skipped(r, consumers, db, prefix):
    """On either database: a consumer killed between its commit and its offset commit; the
    next member of the group gets the record again and the barrier skips it."""
    topic = topic_name(prefix)
    group = topic + "-g"
    gid = new_gid(prefix)
    submit(r, topic, gid)
    first = consumers(topic, group, "--die-after-apply", "1")
    first.wait_line("applied", gid)
    assert first.proc.wait(15) == 9, first.log()
    assert applied(db, [gid]) == {gid: 1}

    # its offset was never committed: the next member of the group gets it again
    second = consumers(topic, group)
    second.wait_line("duplicate", gid, timeout=30)
    assert applied(db, [gid]) == {gid: 1}
    assert not second.lines("applied")


def test_consumer_killed_before_offset_commit_skips_the_redelivered_record(
        kmock, relay, consumers, db):
    redelivery_is_skipped(relay(kafka_brokers=kmock.bootstrap), consumers, db, "c2")


def test_relay_killed_mid_produce_each_record_applied_once(kafka, relay, consumers, db):
    k = kafka("--rtt", "40")
    r = relay(kafka_brokers=k.bootstrap, claim_batch=4, max_inflight=4)
    topic = topic_name("c3")
    gids = [new_gid("c3-%02d" % i) for i in range(24)]
    for g in gids:
        submit(r, topic, g)

    def some_done():
        return len(r.all(status="succeed", limit=100)["transactions"]) >= 4
    wait_for(some_done, 15, "a few messages delivered", interval=0.02)
    r.kill(signal.SIGKILL)
    r.start()
    c = consumers(topic, topic + "-g", brokers=k.bootstrap)

    def all_applied():
        return len(applied(db, gids)) == len(gids)
    wait_for(all_applied, 30, lambda: "every gid applied; have %d of %d; log:\n%s"
             % (len(applied(db, gids)), len(gids), c.log()[-2000:]))
    assert set(applied(db, gids).values()) == {1}
    # whatever was produced twice is skipped, never applied twice
    recs = k.wait_records(topic, len(gids))
    wait_for(lambda: len(c.lines("applied")) + len(c.lines("duplicate")) >= len(recs), 15,
             "every record seen by the consumer")
    assert sorted(ln[1] for ln in c.lines("applied")) == sorted(gids)
    print("records: %d for %d messages, %d skipped as duplicates"
          % (len(recs), len(gids), len(c.lines("duplicate"))))


def poison_is_parked(r, kmock, consumers, prefix, applied_of, parked_of, barrier_rows_of):
    """The poison scenario on either database: a record the callback keeps failing is parked
    after 3 attempts, one without barrier headers at once, and the records after them are
    applied. @applied_of(gids) -> {gid: n}; @parked_of(topic) -> [[gid, attempts, payload,
    reason], ...] by offset; @barrier_rows_of(gid) -> how many barrier rows."""
    topic = topic_name(prefix)
    keyed = "kafka://%s?key=one-partition" % topic
    poison, after = new_gid(prefix + "-poison"), new_gid(prefix + "-after")
    for g, payload in ((poison, "POISON"), (after, "fine")):
        status, data = r.post("submit", msg_body(g, [keyed], payloads=[payload]))
        assert status == 200, data
        r.wait_state(g, "succeed")
    # a record that did not come from the relay: no barrier headers
    subprocess.run([KCAT, "-P", "-b", kmock.bootstrap, "-t", topic, "-k", "one-partition"],
                   input="no headers here\n", text=True, check=True, timeout=20)
    last = new_gid(prefix + "-last")
    status, data = r.post("submit", msg_body(last, [keyed], payloads=["fine too"]))
    assert status == 200, data

    c = consumers(topic, topic + "-g", "--fail-on", "POISON", "--max-attempts", "3")
    c.wait_line("parked", poison)
    c.wait_line("applied", last)
    assert len([ln for ln in c.lines("failing") if ln[1] == poison]) == 3
    assert applied_of([poison, after, last]) == {after: 1, last: 1}
    parked = parked_of(topic)
    assert len(parked) == 2, parked
    assert parked[0][:3] == [poison, "3", "POISON"]
    assert "callback failed" in parked[0][3]
    assert parked[1][:3] == ["", "0", "no headers here"]
    assert parked[1][3] == "record header 'gid' missing"
    # a parked record leaves no barrier row: replaying it later applies it once
    assert barrier_rows_of(poison) == 0


def test_poison_record_is_parked_and_the_next_ones_are_applied(kmock, relay, consumers, db):
    def parked_of(topic):
        rows = db.sql("SELECT gid, attempts, payload, reason FROM dtm_barrier.parked "
                      "WHERE topic = '%s' ORDER BY kafka_offset" % topic)
        return [ln.split("\t") for ln in rows.splitlines()]
    poison_is_parked(relay(kafka_brokers=kmock.bootstrap), kmock, consumers, "c4",
                     lambda gids: applied(db, gids), parked_of,
                     lambda gid: int(db.sql("SELECT COUNT(*) FROM dtm_barrier.barrier "
                                            "WHERE gid = '%s'" % gid).strip()))
