#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/retention_mysql.py - bench/retention on a private MariaDB (tests/e2e/mariadb.py).

    /usr/bin/python3 bench/retention_mysql.py BUILD_DIR PREFILL COUNT CONCURRENCY RUNS

Prefills a template database once (`msgrelay migrate`, then bench/prefill: PREFILL succeed
messages finished 8 days ago), then for each run copies it into a fresh database
(INSERT ... SELECT) and runs bench/run with --retention 0 (off) and --retention 7d (on),
interleaved off, on, off, on, ... Prints each run's report and, at the end, the accepted/s
and delivered/s lines. The server (durable: innodb_flush_log_at_trx_commit=1) is private,
on a temp datadir, and stopped at the end.
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from mariadb import MariaDB  # noqa: E402

MSG_COLS = ("id, gid, state, query_prepared, protocol, custom_data, branch_headers, concurrent, "
            "wait_result, timeout_to_fail, retry_interval, request_timeout, delay, create_time, "
            "update_time, finish_time, rollback_time, next_cron_time, next_cron_interval, owner, "
            "lease_until, result")
STEP_COLS = ("id, msg_id, branch_id, op, url, payload, state, attempts, last_error, create_time, "
             "update_time, finish_time")


def main(argv):
    if len(argv) != 6:
        sys.stderr.write(__doc__)
        return 2
    build, prefill, count, conc, runs = argv[1], int(argv[2]), argv[3], argv[4], int(argv[5])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    summary = []
    with MariaDB() as db:
        tmpl = db.uri(db.create_database("tmpl"))
        subprocess.run([os.path.join(build, "msgrelay"), "migrate", "--store", tmpl], env=env,
                       check=True, capture_output=True)
        t = time.monotonic()
        subprocess.run([os.path.join(build, "bench", "prefill"), tmpl, str(prefill),
                        str(8 * 86400)], env=env, check=True)
        print("prefilled %d finished messages in %.0f s" % (prefill, time.monotonic() - t),
              flush=True)
        for n in range(1, runs + 1):
            for ret, label in (("0", "off"), ("7d", "on")):
                name = "run_%s_%d" % (label, n)
                uri = db.uri(db.create_database(name))
                subprocess.run([os.path.join(build, "msgrelay"), "migrate", "--store", uri],
                               env=env, check=True, capture_output=True)
                t = time.monotonic()
                db.sql("INSERT INTO msg (%s) SELECT %s FROM tmpl.msg; "
                       "INSERT INTO step (%s) SELECT %s FROM tmpl.step;"
                       % (MSG_COLS, MSG_COLS, STEP_COLS, STEP_COLS), name)
                print("== retention %s, run %d (copied the template in %.0f s)"
                      % (label, n, time.monotonic() - t), flush=True)
                run_env = dict(env, MSGRELAY_BENCH_ARGS="--retention " + ret)
                p = subprocess.run([os.path.join(HERE, "run"), build, uri, "submit", count, conc],
                                   env=run_env, capture_output=True, text=True)
                print(p.stdout + p.stderr, end="", flush=True)
                left = db.sql("SELECT count(*) FROM msg WHERE gid LIKE 'old-%'", name).strip()
                print("prefilled messages left   %s of %d" % (left, prefill), flush=True)
                lines = [l for l in p.stdout.splitlines()
                         if l.startswith(("accepted", "delivered"))]
                summary.append("retention %-3s run %d: %s" % (label, n, " ".join(lines)))
                db.sql("DROP DATABASE `%s`" % name)
    print("== summary (accepted/s, delivered/s per run)")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
