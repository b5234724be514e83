# SPDX-License-Identifier: MIT
"""The C SDK against the real relay and a private MariaDB: DTM's msg barrier
scenarios (msg_barrier_test: success, business failure, back-check first,
prepare failing, commit failing, commit succeeding but reported failed) and
the crash variants (killed between commit and submit, back-check before a
slow local transaction, back-check during an open one), each checking both
banks' balances and the message's final state.

The application is the transfer example (examples/transfer, libmsgrelay):
one "survivor" process serves TransIn and QueryPrepared throughout; a
"victim" process runs the TransOut under test, through a MySQL proxy that
can lose a COMMIT or a gate in front of the relay that can hold a call.
"""
import itertools
import json
import threading

import pytest

from e2e_helpers import new_gid, stays, wait_for
from mariadb import MariaDB
from sdk_helpers import Banks, MySQLProxy, RelayGate, fetch, free_port

_users = itertools.count(100)


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def db(tmp_path_factory):
    with MariaDB(str(tmp_path_factory.mktemp("mariadb"))) as m:
        m.create_database("bank")
        yield m


@pytest.fixture(scope="module")
def relay(module_relay_factory):
    return module_relay_factory()


@pytest.fixture(scope="module")
def banks(tmp_path_factory):
    f = Banks(tmp_path_factory.mktemp("banks"))
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def survivor(banks, db, relay):
    """The bank that serves TransIn and QueryPrepared (and creates the schema)."""
    return banks(db.uri("bank"), relay.base + "/api/dtmsvr", schema=True)


@pytest.fixture
def accounts(db, survivor):
    """Two fresh accounts with 1000 each, so tests never share balances."""
    a, b = next(_users), next(_users)
    db.sql("INSERT INTO user_account (user_id, balance) VALUES (%d, 1000), (%d, 1000)" % (a, b),
           database="bank")
    return a, b


@pytest.fixture
def proxy(db):
    p = MySQLProxy(db.port)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def gate(relay):
    g = RelayGate(relay.port)
    try:
        yield g
    finally:
        g.close()


# --------------------------------------------------------------------------
# observations
# --------------------------------------------------------------------------

def balances(db, *users):
    out = db.sql("SELECT user_id, balance FROM user_account WHERE user_id IN (%s)"
                 % ",".join(str(u) for u in users), database="bank")
    rows = dict(line.split("\t") for line in out.splitlines())
    return tuple(rows[str(u)] for u in users)


def barrier_rows(db, gid):
    out = db.sql("SELECT branch_id, op, barrier_id, reason FROM dtm_barrier.barrier "
                 "WHERE gid = '%s' ORDER BY branch_id, op" % gid, database="bank")
    return [tuple(line.split("\t")) for line in out.splitlines()]


MSG_ROW = ("00", "msg", "01", "msg")
ROLLBACK_ROW = ("00", "msg", "01", "rollback")
STEP_ROW = ("01", "action", "01", "action")


class Background:
    """Run fn() on a thread; result() waits for it and returns (or raises) its outcome."""

    def __init__(self, fn):
        self._out = {}
        self._t = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._t.start()

    def _run(self, fn):
        try:
            self._out["value"] = fn()
        except Exception as e:  # noqa: BLE001 - handed to the test
            self._out["error"] = e

    def done(self):
        return not self._t.is_alive()

    def result(self, timeout=20):
        self._t.join(timeout)
        assert not self._t.is_alive(), "background call still running after %ss" % timeout
        if "error" in self._out:
            raise self._out["error"]
        return self._out["value"]


# --------------------------------------------------------------------------
# DTM's msg barrier scenarios
# --------------------------------------------------------------------------

# The scenarios below that need no MySQL-only tool are functions of their own, so
# test_sdk_pg.py runs them on PostgreSQL too.

def moves_the_money(db, relay, survivor, accounts, prefix):
    a, b = accounts
    gid = new_gid(prefix + "-ok")
    status, ans = survivor.transfer(a, b, 30, gid=gid)
    assert (status, ans) == (200, {"gid": gid, "result": "success"})
    assert balances(db, a)[0] == "970.00", "debit committed before submit"
    relay.wait_state(gid, "succeed", timeout=10)
    assert balances(db, a, b) == ("970.00", "1030.00")
    assert barrier_rows(db, gid) == [MSG_ROW, STEP_ROW]
    assert survivor.query_prepared(gid) == (200, {"dtm_result": "SUCCESS"})


def test_sdk_do_and_submit_moves_the_money(db, relay, survivor, accounts):
    moves_the_money(db, relay, survivor, accounts, "sdk")


def test_sdk_do_and_submit_with_a_gid_dtm_takes(db, relay, survivor, accounts):
    # the SDK encodes the gid in its back-check URL; the barrier reads it back exactly
    a, b = accounts
    gid = "sdk \u00e9\u6f22\U0001F680/#+&=%?" + new_gid("")[1:]
    status, ans = survivor.transfer(a, b, 30, gid=gid)
    assert (status, ans) == (200, {"gid": gid, "result": "success"})
    relay.wait_state(gid, "succeed", timeout=10)
    assert balances(db, a, b) == ("970.00", "1030.00")
    # the gid as bytes: the mariadb client's own connection is not utf8mb4
    out = db.sql("SELECT branch_id, op, barrier_id, reason FROM dtm_barrier.barrier "
                 "WHERE gid = CONVERT(X'%s' USING utf8mb4) ORDER BY branch_id, op"
                 % gid.encode().hex())
    assert [tuple(line.split("\t")) for line in out.splitlines()] == [MSG_ROW, STEP_ROW]
    status, _ = survivor.query_prepared(gid)
    assert status == 200, "the back-check does not find the committed barrier row"


def test_sdk_sends_its_token_to_a_guarded_relay(db, module_relay_factory, banks, survivor,
                                                accounts):
    token = "sdk-e2e-token-5b1f0c9d2e"
    guarded = module_relay_factory(api_token=token, admin_token="sdk-e2e-admin-7a6c5d4e3f")
    a, b = accounts
    # without the token the relay refuses the prepare: the local transaction never runs
    bare = banks(db.uri("bank"), guarded.base + "/api/dtmsvr")
    gid = new_gid("sdk-notoken")
    status, ans = bare.transfer(a, b, 30, gid=gid)
    assert status != 200 and ans["result"] != "success", ans
    assert "401" in ans.get("message", ""), ans
    assert balances(db, a, b) == ("1000.00", "1000.00")
    # the SDK takes the token from MSGRELAY_API_TOKEN, as an unchanged program would
    bank = banks(db.uri("bank"), guarded.base + "/api/dtmsvr", env={"MSGRELAY_API_TOKEN": token})
    gid = new_gid("sdk-token")
    status, ans = bank.transfer(a, b, 30, gid=gid)
    assert (status, ans) == (200, {"gid": gid, "result": "success"})
    status, q = guarded.get("query", {"gid": gid}, headers={"Authorization": "Bearer " + token})
    assert status == 200 and q["transaction"]["gid"] == gid, q

    def succeeded():
        st, q = guarded.get("query", {"gid": gid}, headers={"Authorization": "Bearer " + token})
        return st == 200 and q["transaction"]["status"] == "succeed"
    wait_for(succeeded, 10, "the message to succeed")
    assert balances(db, a, b) == ("970.00", "1030.00")
    assert token not in bank.log()


def business_failure_aborts(db, relay, survivor, accounts, prefix):
    a, b = accounts
    gid = new_gid(prefix + "-busi")
    status, ans = survivor.transfer(a, b, 5000, gid=gid)
    assert status == 409 and ans["result"] == "failure", ans
    assert "balance below 5000" in ans["message"]
    # abort is synchronous: the message is already failed, its step never became due
    q = relay.wait_state(gid, "failed", timeout=2)
    assert [br["status"] for br in q["branches"]] == ["prepared"]
    assert balances(db, a, b) == ("1000.00", "1000.00")
    assert barrier_rows(db, gid) == [], "the barrier row went back with the failed callback"


def test_sdk_business_failure_aborts_and_changes_nothing(db, relay, survivor, accounts):
    business_failure_aborts(db, relay, survivor, accounts, "sdk")


def backcheck_first_refuses(db, relay, survivor, accounts, prefix):
    """DTM's BusiLater: the back-check inserted 'rollback' before the local
    transaction ran, so do_and_submit gets duplicated and nothing moves."""
    a, b = accounts
    gid = new_gid(prefix + "-late")
    status, ans = survivor.query_prepared(gid)
    assert (status, ans) == (409, {"dtm_result": "FAILURE"})
    status, ans = survivor.transfer(a, b, 30, gid=gid)
    assert status == 409 and ans["result"] == "duplicated", ans
    relay.wait_state(gid, "failed", timeout=2)
    assert balances(db, a, b) == ("1000.00", "1000.00")
    assert barrier_rows(db, gid) == [ROLLBACK_ROW]
    assert survivor.query_prepared(gid) == (409, {"dtm_result": "FAILURE"}), "the answer stays"


def test_sdk_backcheck_first_refuses_the_late_transaction(db, relay, survivor, accounts):
    backcheck_first_refuses(db, relay, survivor, accounts, "sdk")


def test_sdk_prepare_failing_runs_nothing(db, relay, banks, survivor, accounts):
    a, b = accounts
    gid = new_gid("sdk-noprep")
    victim = banks(db.uri("bank"), "http://127.0.0.1:%d/api/dtmsvr" % free_port(),
                   public_url=survivor.url)
    status, ans = victim.transfer(a, b, 30, gid=gid)
    assert status == 500 and ans["result"] == "error", ans
    assert ans["message"].startswith("prepare: http://127.0.0.1:"), ans
    assert balances(db, a, b) == ("1000.00", "1000.00")
    assert barrier_rows(db, gid) == [], "the local transaction ran although prepare failed"
    assert relay.query(gid)["transaction"] is None


def test_sdk_commit_failing_rolls_back_and_aborts(db, relay, banks, survivor, accounts, proxy):
    """The COMMIT never reaches the server: the server rolls back, the SDK's
    own back-check inserts 'rollback' and the message is aborted."""
    a, b = accounts
    gid = new_gid("sdk-nocommit")
    victim = banks(proxy.uri("msgrelay", "msgrelay", "bank"), relay.base + "/api/dtmsvr",
                   public_url=survivor.url)
    proxy.arm("drop_before")
    status, ans = victim.transfer(a, b, 30, gid=gid)
    assert proxy.fired.is_set()
    assert status == 500 and ans["result"] == "error", ans
    assert "back-check: rolled back; abort: done" in ans["message"], ans
    relay.wait_state(gid, "failed", timeout=2)
    assert balances(db, a, b) == ("1000.00", "1000.00")
    assert barrier_rows(db, gid) == [ROLLBACK_ROW]


def test_sdk_commit_reported_failed_still_submits(db, relay, banks, survivor, accounts, proxy):
    """DTM's CommitAfterFailed: the COMMIT lands but its OK is lost; the SDK's
    back-check says committed, so it submits; the call still reports an error."""
    a, b = accounts
    gid = new_gid("sdk-lostok")
    victim = banks(proxy.uri("msgrelay", "msgrelay", "bank"), relay.base + "/api/dtmsvr",
                   public_url=survivor.url)
    proxy.arm("drop_after")
    status, ans = victim.transfer(a, b, 30, gid=gid)
    assert proxy.fired.is_set()
    assert status == 500 and ans["result"] == "error", ans
    assert "back-check: committed; submit: done" in ans["message"], ans
    relay.wait_state(gid, "succeed", timeout=10)
    assert balances(db, a, b) == ("970.00", "1030.00")
    assert barrier_rows(db, gid) == [MSG_ROW, STEP_ROW]


# --------------------------------------------------------------------------
# crash and race variants
# --------------------------------------------------------------------------

def test_sdk_killed_after_commit_is_delivered_by_the_relay_backcheck(db, relay, banks, survivor,
                                                                      accounts, gate):
    """SIGKILL between the local commit and submit: the relay's back-check
    (timeout_to_fail 2 s) finds the 'msg' row, submits, and TransIn credits."""
    a, b = accounts
    gid = new_gid("sdk-kill")
    victim = banks(db.uri("bank"), gate.url, public_url=survivor.url)
    gate.hold("submit")
    call = Background(lambda: victim.transfer(a, b, 30, gid=gid))
    assert gate.held.wait(10), "submit never came"
    victim.kill()
    gate.release(drop=True)
    with pytest.raises(OSError):
        call.result()
    assert balances(db, a, b) == ("970.00", "1000.00"), "committed locally, not yet delivered"
    assert relay.state(gid) == "prepared"
    relay.wait_state(gid, "succeed", timeout=10)
    assert balances(db, a, b) == ("970.00", "1030.00")
    assert "[QueryPrepared] %s: committed" % gid in survivor.log()
    assert barrier_rows(db, gid) == [MSG_ROW, STEP_ROW]


def test_sdk_backcheck_before_slow_transaction_fails_the_message(db, relay, banks, survivor,
                                                                  accounts, gate):
    """The app stalls between prepare and its local transaction; the relay's
    back-check comes first and inserts 'rollback'; the late transaction is
    refused by the barrier. Nothing moves and the message ends failed."""
    a, b = accounts
    gid = new_gid("sdk-slow")
    victim = banks(db.uri("bank"), gate.url, public_url=survivor.url)
    gate.hold("prepare", after=True)  # the relay has it; the app does not hear back yet
    call = Background(lambda: victim.transfer(a, b, 30, gid=gid))
    assert gate.held.wait(10), "prepare never came"
    relay.wait_state(gid, "failed", timeout=10)
    assert barrier_rows(db, gid) == [ROLLBACK_ROW]
    gate.release()
    status, ans = call.result()
    assert status == 409 and ans["result"] == "duplicated", ans
    assert relay.state(gid) == "failed"
    assert balances(db, a, b) == ("1000.00", "1000.00")
    assert barrier_rows(db, gid) == [ROLLBACK_ROW]


def test_sdk_backcheck_during_open_transaction_waits_for_its_commit(db, relay, banks, survivor,
                                                                   accounts, proxy):
    """A back-check that arrives while the local transaction holds its barrier
    row uncommitted waits for it, then answers committed: never both."""
    a, b = accounts
    gid = new_gid("sdk-race")
    victim = banks(proxy.uri("msgrelay", "msgrelay", "bank"), relay.base + "/api/dtmsvr",
                   public_url=survivor.url)
    proxy.arm("hold")
    call = Background(lambda: victim.transfer(a, b, 30, gid=gid))
    assert proxy.fired.wait(10), "COMMIT never came"
    check = Background(lambda: survivor.query_prepared(gid))
    stays(lambda: not check.done(), 0.5, "the back-check waiting on the open transaction")
    proxy.release()
    assert check.result() == (200, {"dtm_result": "SUCCESS"})
    status, ans = call.result()
    assert (status, ans) == (200, {"gid": gid, "result": "success"})
    relay.wait_state(gid, "succeed", timeout=10)
    assert balances(db, a, b) == ("970.00", "1030.00")
    assert barrier_rows(db, gid) == [MSG_ROW, STEP_ROW]


# --------------------------------------------------------------------------
# the consumer barrier over HTTP
# --------------------------------------------------------------------------

def test_sdk_repeated_delivery_credits_once(db, survivor, accounts):
    a, b = accounts
    gid = new_gid("sdk-twice")
    assert survivor.trans_in(gid, b, 30) == (200, {"dtm_result": "SUCCESS"})
    assert survivor.trans_in(gid, b, 30) == (200, {"dtm_result": "SUCCESS"})
    assert balances(db, b) == ("1030.00",)
    assert barrier_rows(db, gid) == [STEP_ROW]
    # another branch of the same gid is another delivery
    assert survivor.trans_in(gid, b, 5, branch_id="02")[0] == 200
    assert balances(db, b) == ("1035.00",)


def test_sdk_refused_delivery_leaves_no_barrier_row(db, survivor):
    gid = new_gid("sdk-nouser")
    status, ans = survivor.trans_in(gid, 999999, 30)
    assert (status, ans) == (409, {"dtm_result": "FAILURE"})
    assert barrier_rows(db, gid) == [], "the row went back with the refused credit"
    # ... so a later delivery, once the account exists, still applies
    db.sql("INSERT INTO user_account (user_id, balance) VALUES (999999, 0)", database="bank")
    try:
        assert survivor.trans_in(gid, 999999, 30)[0] == 200
        assert balances(db, 999999) == ("30.00",)
    finally:
        db.sql("DELETE FROM user_account WHERE user_id = 999999", database="bank")


def test_sdk_step_without_trans_info_is_a_bad_request(survivor):
    status, ans = fetch("POST", survivor.url + "/api/TransIn?gid=x&op=action",
                        {"user_id": 1, "amount": 1})
    assert status == 400 and "FAILURE" not in json.dumps(ans)
    status, ans = survivor.query_prepared("")
    assert status == 400
