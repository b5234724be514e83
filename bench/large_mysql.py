#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/large_mysql.py - bench/large on a private MariaDB (tests/e2e/mariadb.py).

    /usr/bin/python3 bench/large_mysql.py BUILD_DIR SIZE WAITING COUNT CONCURRENCY RUNS

Prefills one database once (`msgrelay migrate`, then bench/prefill: SIZE messages, WAITING of
them unfinished but not due for a month, the rest finished within the last hours), then runs
bench/run (submit) RUNS times on a fresh empty database and on the prefilled one, interleaved
(empty, full, empty, full, ...). The full runs share the prefilled database: each leaves its
COUNT delivered messages there, so the store grows by COUNT per run (1 % of 10,000,000 for
100,000), which only favours the empty runs. Prints each run's report, then the medians and
ranges of delivered/s and of the relay's CPU per message (bench/large_summary.py). The server
(durable: innodb_flush_log_at_trx_commit=1, the tests' 256 MB buffer pool) is private, on a temp
datadir under MSGRELAY_BENCH_LARGE_DIR (default: the system's temp dir), and stopped at the end.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from mariadb import MariaDB  # noqa: E402


def main(argv):
    if len(argv) != 7:
        sys.stderr.write(__doc__)
        return 2
    build, size, waiting, count, conc, runs = (argv[1], int(argv[2]), int(argv[3]), argv[4],
                                               argv[5], int(argv[6]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    work = tempfile.mkdtemp(prefix="msgrelay-large-",
                            dir=os.environ.get("MSGRELAY_BENCH_LARGE_DIR"))
    out = {"empty": os.path.join(work, "bench-empty"), "full": os.path.join(work, "bench-full")}
    try:
        print("disk: %.0f GB free in %s" % (shutil.disk_usage(work).free / 1e9, work), flush=True)
        with MariaDB(os.path.join(work, "mariadb")) as db:
            full = db.uri(db.create_database("large"))
            subprocess.run([os.path.join(build, "msgrelay"), "migrate", "--store", full],
                           env=env, check=True, capture_output=True)
            print("prefilling %d messages (%d waiting) ..." % (size, waiting), flush=True)
            t = time.monotonic()
            subprocess.run([os.path.join(build, "bench", "prefill"), full, str(size), "0",
                            str(waiting)], env=env, check=True)
            print("prefilled in %.0f s" % (time.monotonic() - t), flush=True)
            for n in range(1, runs + 1):
                for kind in ("empty", "full"):
                    uri = full
                    if kind == "empty":
                        uri = db.uri(db.create_database("empty_%d" % n))
                    print("== %s, run %d" % (kind, n), flush=True)
                    p = subprocess.run([os.path.join(HERE, "run"), build, uri, "submit", count,
                                        conc], env=env, capture_output=True, text=True)
                    print(p.stdout + p.stderr, end="", flush=True)
                    with open(out[kind], "a") as f:
                        f.writelines(l + "\n" for l in p.stdout.splitlines()
                                     if l.startswith("BENCH "))
                    if kind == "empty":
                        db.sql("DROP DATABASE `empty_%d`" % n)
        print("== summary: %d messages in the store (%d waiting) vs an empty store"
              % (size, waiting), flush=True)
        return subprocess.call([sys.executable, os.path.join(HERE, "large_summary.py"),
                                "empty=" + out["empty"], "full=" + out["full"]])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
