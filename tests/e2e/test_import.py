# SPDX-License-Identifier: MIT
"""`msgrelay import-dtm`: a stopped DTM server's MySQL tables (trans_global,
trans_branch_op, created from tests/e2e/dtm_schema.sql on a private MariaDB,
filled with rows shaped as DTM writes them) are imported into msgrelay's
store, SQLite, MySQL and PostgreSQL; a relay started on the imported store then
back-checks the prepared messages and delivers what DTM had not delivered."""
import base64
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import App, relay_binary
from e2e_helpers import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))

# How many DTM rows of each kind the module's DTM database holds.
N_PREP_OK = 300     # prepared msg, the app's back-check says SUCCESS
N_PREP_NO = 100     # prepared msg, the back-check says FAILURE
N_SUB = 600         # submitted msg, 3 branches; the first half has branch 01 succeed already
N_SUCCEED = 1000
N_FAILED = 400
N_ABORTING = 50
N_OTHER = {"saga": 300, "tcc": 200, "xa": 50, "workflow": 50}

ODD_OK = "odd:gid@a+b=c.d_e-f"   # odd, and a gid msgrelay holds
ODD_MAYBE = "odd gid/\u00fc#1"    # DTM holds it; msgrelay imports it or reports it
BINARY = b"\x00\xffraw\x00bytes"  # a gRPC client's bin_data: not text, not UTF-8
BAD_ROWS = {                       # msg rows msgrelay cannot hold, each reported and skipped
    "bad-json": "options: not a JSON object",
    "bad\ngid": "gid",
    "bad-target": "target denied",
    "bad-grpc": "steps[0].action",
}


def lit(v):
    """A SQL literal for @v: NULL, a number, or a hex string literal (no escaping to get wrong)."""
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        v = v.encode()
    return "X'%s'" % v.hex() if v else "''"


def ago(s):
    return "NOW() - INTERVAL %d SECOND" % s


class DTM:
    """The DTM database of this module, and what it holds."""

    def __init__(self, db, app):
        self.db = db
        self.name = db.create_database("dtm_" + uuid.uuid4().hex[:10])
        self.uri = db.uri(self.name)
        with open(os.path.join(HERE, "dtm_schema.sql")) as f:
            self.sql(f.read())
        self.app = app
        self.globals = []
        self.branches = []
        self.expect = {"prepared": set(), "submitted": set(), "succeed": set(), "failed": set()}
        self.payload = {}      # (gid, branch_id) -> bytes
        self.first_done = set()  # submitted gids whose branch 01 had succeeded in DTM
        self.no_gids = set()   # prepared gids whose back-check says FAILURE
        self.headers = set()   # gids with branch_headers in their options
        self.qp = {}           # gid -> query_prepared
        self._fill()
        self.total = len(self.globals)

    def sql(self, text):
        r = subprocess.run(["mariadb", "--no-defaults", "-uroot", "--socket=" + self.db.socket,
                            self.name], input=text.encode(), capture_output=True)
        assert r.returncode == 0, r.stderr.decode()

    def add(self, gid, trans_type, status, branches, qp="", options='{"concurrent":false}',
            protocol="http", created=600, custom=""):
        finish = ago(60) if status == "succeed" else "NULL"
        rollback = ago(60) if status in ("failed", "aborting") else "NULL"
        self.globals.append("(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,10,%s,'',NULL,'','')" % (
            lit(gid), lit(trans_type), lit(status), lit(qp), lit(protocol), ago(created),
            ago(30), finish, rollback, lit(options), lit(custom), ago(5)))
        for bid, op, bstatus, url, data in branches:
            self.branches.append("(%s,%s,NULL,%s,%s,%s,%s,%s,NULL,%s,%s)" % (
                lit(gid), lit(url), lit(data), lit(bid), lit(op), lit(bstatus),
                ago(40) if bstatus == "succeed" else "NULL", ago(created), ago(30)))
            if trans_type == "msg":
                self.payload[(gid, bid)] = data

    def msg(self, gid, status, states, qp="", options='{"concurrent":false}', data=None, **kw):
        paths = ["/svc/a", "/svc/b", "/svc/c"]
        branches = [("%02d" % (i + 1), "action", st, self.app.url(paths[i]),
                     data or json.dumps({"gid": gid, "step": i + 1, "amount": i * 10}).encode())
                    for i, st in enumerate(states)]
        self.add(gid, "msg", status, branches, qp=qp, options=options, **kw)
        self.qp[gid] = qp

    def _fill(self):
        app = self.app
        with_headers = '{"timeout_to_fail":3,"retry_interval":7,' \
                       '"branch_headers":{"X-Tenant":"t1"},"concurrent":false}'
        for i in range(N_PREP_OK):
            gid = "prep-ok-%04d" % i
            opts = with_headers if i % 2 else '{"concurrent":false}'
            if i % 2:
                self.headers.add(gid)
            self.msg(gid, "prepared", ["prepared"] * 2, qp=app.url("/qp/ok"), options=opts)
            self.expect["prepared"].add(gid)
        for i in range(N_PREP_NO):
            gid = "prep-no-%04d" % i
            self.msg(gid, "prepared", ["prepared"] * 2, qp=app.url("/qp/no"))
            self.expect["prepared"].add(gid)
            self.no_gids.add(gid)
        for i in range(N_SUB):
            gid = "sub-%04d" % i
            done = i < N_SUB // 2
            self.msg(gid, "submitted", ["succeed" if done else "prepared", "prepared", "prepared"],
                     qp=app.url("/qp/ok"))
            self.expect["submitted"].add(gid)
            if done:
                self.first_done.add(gid)
        for i in range(N_SUCCEED):
            self.msg("done-%04d" % i, "succeed", ["succeed"] * 2)
        for i in range(N_FAILED):
            self.msg("failed-%04d" % i, "failed", ["prepared"] * 2, qp=app.url("/qp/no"))
        for i in range(N_ABORTING):
            self.msg("aborting-%04d" % i, "aborting", ["prepared"] * 2)
        for tt, n in N_OTHER.items():
            for i in range(n):
                ops = {"saga": ["action", "compensate"], "tcc": ["try", "confirm", "cancel"]}
                br = [("01", op, "prepared", app.url("/other"), b"{}")
                      for op in ops.get(tt, ["action"])]
                self.add("%s-%04d" % (tt, i), tt, "prepared" if i % 2 else "succeed", br)
        self.msg(ODD_OK, "submitted", ["prepared"])
        self.expect["submitted"].add(ODD_OK)
        self.msg("sub-binary", "submitted", ["prepared"], data=BINARY)
        self.expect["submitted"].add("sub-binary")
        self.msg(ODD_MAYBE, "submitted", ["prepared"])
        self.msg("bad-json", "prepared", ["prepared"], qp=app.url("/qp/ok"),
                 options='{"concurrent":')
        self.msg("bad\ngid", "submitted", ["prepared"])
        self.add("bad-target", "msg", "submitted",
                 [("01", "action", "prepared", "http://169.254.169.254/latest/meta-data", b"{}")])
        self.add("bad-grpc", "msg", "submitted",
                 [("01", "action", "prepared", "localhost:58080/busi.Busi/TransOut", b"{}")],
                 protocol="grpc")
        rows = []
        for i in range(0, len(self.globals), 500):
            rows.append("INSERT INTO trans_global (gid, trans_type, status, query_prepared, "
                        "protocol, create_time, update_time, finish_time, rollback_time, options, "
                        "custom_data, next_cron_interval, next_cron_time, owner, ext_data, result, "
                        "rollback_reason) VALUES %s;" % ",".join(self.globals[i:i + 500]))
        for i in range(0, len(self.branches), 500):
            rows.append("INSERT INTO trans_branch_op (gid, url, data, bin_data, branch_id, op, "
                        "status, finish_time, rollback_time, create_time, update_time) "
                        "VALUES %s;" % ",".join(self.branches[i:i + 500]))
        self.sql("\n".join(rows))

    def checksum(self):
        return self.db.sql("CHECKSUM TABLE trans_global, trans_branch_op", self.name)


@pytest.fixture(scope="module")
def app_m():
    a = App()
    a.set_default("/qp/no", 409, {"dtm_result": "FAILURE"})
    try:
        yield a
    finally:
        a.close()


@pytest.fixture(scope="module")
def dtm(mariadb, app_m):
    return DTM(mariadb, app_m)


def run(*args, timeout=120):
    """msgrelay ARGS... with no MSGRELAY_* from outside: (exit status, stdout JSON or text, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([relay_binary()] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=env)
    try:
        out = json.loads(p.stdout)
    except ValueError:
        out = p.stdout
    return p.returncode, out, p.stderr


def import_dtm(dtm, store, *flags):
    return run("import-dtm", "--from", dtm.uri, "--store", store, *flags)


def listed(store, state):
    """Every gid `msgrelay list --state STATE` shows, page by page."""
    gids = set()
    pos = []
    while True:
        rc, out, err = run("list", "--state", state, "--limit", "1000", "--store", store, *pos)
        assert rc == 0, err
        gids.update(t["gid"] for t in out["transactions"])
        if not out.get("next_position"):
            return gids
        pos = ["--position", out["next_position"]]


def show(store, gid):
    rc, out, err = run("show", gid, "--store", store)
    assert rc == 0, "show %r: %s" % (gid, err)
    return out


def reported(err):
    """{gid: error} of the rows the import logged as not imported."""
    rows = {}
    for ln in err.splitlines():
        if ln.startswith("{"):
            e = json.loads(ln)
            if e.get("msg") == "import-dtm: row not imported":
                rows[e["gid"]] = e["error"]
    return rows


def maybe_imported(out, err):
    """Whether the gid whose fate depends on the gid rules was imported (else it was reported)."""
    return ODD_MAYBE not in reported(err)


def check_counts(dtm, out, err, present=0, finished=True, dry_run=False):
    unfinished = sum(len(v) for k, v in dtm.expect.items() if k in ("prepared", "submitted"))
    odd = 0 if maybe_imported(out, err) else 1
    n_finished = N_SUCCEED + N_FAILED + N_ABORTING
    assert out["read"] == dtm.total, out
    assert out["skipped_not_msg"] == sum(N_OTHER.values()), out
    assert out["skipped_finished"] == (n_finished if finished else 0), out
    assert out["failed"] == len(BAD_ROWS) + odd, out
    assert out["imported"] + out["skipped_present"] == unfinished + 1 - odd + \
        (0 if finished else n_finished), out
    assert out["skipped_present"] == present, out
    assert out["dry_run"] is dry_run, out
    rows = reported(err)
    assert set(rows) - {ODD_MAYBE} == set(BAD_ROWS), err
    for gid, why in BAD_ROWS.items():
        assert why in rows[gid], "row %r not reported with %r:\n%s" % (gid, why, err)


def check_store(dtm, store, odd_in):
    """Every unfinished DTM msg is in @store with its state, steps, states and payloads."""
    prepared = listed(store, "prepared")
    submitted = listed(store, "submitted")
    assert prepared == dtm.expect["prepared"]
    assert submitted - {ODD_MAYBE} == dtm.expect["submitted"]
    assert (ODD_MAYBE in submitted) == odd_in
    assert not listed(store, "succeed") and not listed(store, "failed")
    for gid in ["prep-ok-0000", "prep-ok-0001", "prep-no-0000", "sub-0000", "sub-0599", ODD_OK,
                "sub-binary"]:
        q = show(store, gid)
        t = q["transaction"]
        assert t["gid"] == gid and t.get("query_prepared", "") == dtm.qp[gid], t
        assert t["status"] == ("prepared" if gid.startswith("prep") else "submitted"), t
        n = len([k for k in dtm.payload if k[0] == gid])
        assert [b["branch_id"] for b in q["branches"]] == ["%02d" % (i + 1) for i in range(n)]
        for b in q["branches"]:
            assert base64.b64decode(b["bin_data"]) == dtm.payload[(gid, b["branch_id"])], b
        want = ["succeed" if (gid in dtm.first_done and i == 0) else "prepared" for i in range(n)]
        assert [b["status"] for b in q["branches"]] == want, q
        if gid in dtm.headers:
            assert t["timeout_to_fail"] == 3 and t["retry_interval"] == 7, t
            assert t["branch_headers"] == {"X-Tenant": "***"}, t
        # DTM's create_time (600 s ago) is kept: the back-check counts from it
        created = time.mktime(time.strptime(t["create_time"][:19], "%Y-%m-%dT%H:%M:%S")) - \
            time.timezone
        assert 500 < time.time() - created < 1200, t["create_time"]


def test_dry_run_counts_and_writes_nothing(dtm, mariadb, tmp_path):
    store = "sqlite:" + str(tmp_path / "dry.db")
    before = dtm.checksum()
    rc, out, err = import_dtm(dtm, store, "--dry-run")
    assert rc == 1, "rows failed, so the exit status says so: %s" % err
    check_counts(dtm, out, err, dry_run=True)
    assert not os.path.exists(str(tmp_path / "dry.db")), "a dry run created the store"
    my = mariadb.uri(mariadb.create_database("mr_dry_" + uuid.uuid4().hex[:8]))
    assert run("migrate", "--store", my)[0] == 0
    rc, out, err = import_dtm(dtm, my, "--dry-run")
    check_counts(dtm, out, err, dry_run=True)
    assert not listed(my, "prepared") and not listed(my, "submitted")
    assert dtm.checksum() == before, "the import wrote to DTM's tables"


def test_import_sqlite_then_relay_backchecks_and_delivers(dtm, app_m, relay, tmp_path):
    path = str(tmp_path / "imported.db")
    store = "sqlite:" + path
    t0 = time.monotonic()
    rc, out, err = import_dtm(dtm, store, "--batch", "250")
    took = time.monotonic() - t0
    assert rc == 1, err
    check_counts(dtm, out, err)
    odd_in = maybe_imported(out, err)
    assert took < 60, "importing %d rows took %.1fs" % (dtm.total, took)
    progress = [ln for ln in err.splitlines() if ln.startswith("msgrelay: import-dtm:")]
    assert len(progress) == -(-dtm.total // 250) + 1, progress  # one per page, then the end
    assert progress[-1].startswith("msgrelay: import-dtm: done: read %d," % dtm.total), progress
    check_store(dtm, store, odd_in)

    # a re-run imports nothing twice
    rc, again, err = import_dtm(dtm, store)
    assert rc == 1
    check_counts(dtm, again, err, present=out["imported"])
    assert again["imported"] == 0

    # a relay on the imported store carries on where DTM stopped
    r = relay(store=store)
    unfinished = dtm.expect["prepared"] | dtm.expect["submitted"] | ({ODD_MAYBE} if odd_in else set())

    def all_final():
        return not listed(store, "prepared") and not listed(store, "submitted")
    wait_for(all_final, 120, lambda: "every imported message to finish (%d calls so far)"
             % app_m.count(), interval=0.5)
    assert listed(store, "failed") == dtm.no_gids, "FAILURE back-checks must fail exactly those"
    assert listed(store, "succeed") == unfinished - dtm.no_gids

    qp = {}
    for c in app_m.calls("/qp/ok") + app_m.calls("/qp/no"):
        assert c.method == "GET" and c.params["trans_type"] == "msg" and \
            c.params["branch_id"] == "00" and c.params["op"] == "msg", c.params
        qp.setdefault(c.params["gid"], 0)
        qp[c.params["gid"]] += 1
    assert set(qp) == dtm.expect["prepared"], "back-checked: prepared ones only, every one"
    steps = {}
    for path_, bid in (("/svc/a", "01"), ("/svc/b", "02"), ("/svc/c", "03")):
        for c in app_m.calls(path_):
            gid = c.params["gid"]
            assert c.params["branch_id"] == bid
            assert c.body == dtm.payload[(gid, bid)], "payload of %s/%s" % (gid, bid)
            if gid in dtm.headers:
                assert c.headers.get("x-tenant") == "t1"
            steps.setdefault(gid, set()).add(bid)
    assert not set(steps) & dtm.no_gids, "a message its back-check failed was delivered"
    assert not {g for g in dtm.first_done if "01" in steps.get(g, ())}, \
        "a branch that had succeeded in DTM was called again"
    for gid in dtm.expect["submitted"] - dtm.first_done - {ODD_OK, "sub-binary"}:
        assert steps.get(gid) == {"01", "02", "03"}, gid
    for gid in dtm.first_done:
        assert steps.get(gid) == {"02", "03"}, gid
    assert steps.get(ODD_OK) == {"01"}, "the odd gid is sent as it is"
    assert steps.get("sub-binary") == {"01"}, "the binary payload is delivered (bytes checked above)"
    r.stop()

    # --include-finished brings the finished ones in their final state, and only those
    rc, fin, err = import_dtm(dtm, store, "--include-finished")
    assert fin["imported"] == N_SUCCEED + N_FAILED + N_ABORTING, fin
    assert fin["skipped_present"] == out["imported"], fin
    assert fin["skipped_finished"] == 0, fin
    succeed = listed(store, "succeed")
    failed = listed(store, "failed")
    assert {"done-%04d" % i for i in range(N_SUCCEED)} <= succeed
    assert {"failed-%04d" % i for i in range(N_FAILED)} <= failed
    assert {"aborting-%04d" % i for i in range(N_ABORTING)} <= failed
    q = show(store, "done-0007")
    assert q["transaction"]["status"] == "succeed" and q["transaction"].get("finish_time")
    assert [b["status"] for b in q["branches"]] == ["succeed", "succeed"]
    q = show(store, "aborting-0003")
    assert q["transaction"]["status"] == "failed" and q["transaction"].get("rollback_time")


@pytest.mark.parametrize("server", ["mariadb", "postgres"])
def test_import_into_a_server_store(dtm, request, server):
    db = request.getfixturevalue(server)
    store = db.uri(db.create_database("mr_imp_" + uuid.uuid4().hex[:8]))
    rc, out, err = run("migrate", "--store", store)
    assert rc == 0, err
    rc, out, err = import_dtm(dtm, store)
    assert rc == 1, err
    check_counts(dtm, out, err)
    check_store(dtm, store, maybe_imported(out, err))
    rc, again, err = import_dtm(dtm, store, "--batch", "1000")
    check_counts(dtm, again, err, present=out["imported"])
    assert again["imported"] == 0


def test_clean_import_exits_0(mariadb, app_m, tmp_path):
    """Nothing refused: exit 0. DTM's times are kept; an over-long DTM schedule is brought
    within the relay's cap; an old DTM's payload in the data column is taken."""
    small = DTM.__new__(DTM)
    small.db = mariadb
    small.name = mariadb.create_database("dtm_small_" + uuid.uuid4().hex[:8])
    small.uri = mariadb.uri(small.name)
    with open(os.path.join(HERE, "dtm_schema.sql")) as f:
        small.sql(f.read())
    small.sql("INSERT INTO trans_global (gid, trans_type, status, query_prepared, protocol, "
              "create_time, update_time, options, custom_data, next_cron_interval, "
              "next_cron_time) VALUES "
              "('late', 'msg', 'submitted', '', 'http', '2026-01-02 03:04:05', NOW(), "
              "'{\"concurrent\":false}', '', 86400, NOW() + INTERVAL 2 DAY), "
              "('old', 'msg', 'submitted', '', '', NOW(), NULL, NULL, NULL, NULL, NULL);"
              "INSERT INTO trans_branch_op (gid, url, data, bin_data, branch_id, op, status, "
              "create_time, update_time) VALUES "
              "('late', %s, NULL, '{}', '01', 'action', 'prepared', NOW(), NOW()), "
              "('old', %s, 'from-data', NULL, '01', 'action', 'prepared', NULL, NULL);"
              % (lit(app_m.url("/svc/late")), lit(app_m.url("/svc/old"))))
    store = "sqlite:" + str(tmp_path / "small.db")
    rc, out, err = run("import-dtm", "--from", small.uri, "--store", store,
                       "--max-retry-interval", "60")
    assert rc == 0, err
    assert out["imported"] == 2 and out["failed"] == 0, out
    t = show(store, "late")["transaction"]
    # DTM's local time, read in the database server's zone
    want = int(mariadb.sql("SELECT UNIX_TIMESTAMP('2026-01-02 03:04:05')").strip())
    assert t["create_time"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(want))), t
    assert t["next_cron_interval"] == 60, t
    due = time.mktime(time.strptime(t["next_cron_time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert due - time.time() < 120, "DTM's two-day wait was kept: %s" % t["next_cron_time"]
    q = show(store, "old")
    assert base64.b64decode(q["branches"][0]["bin_data"]) == b"from-data", q
