# SPDX-License-Identifier: MIT
"""A private MariaDB server for tests: mariadbd on a temp datadir, socket and
free loopback port, started and stopped by PID. No system service is touched.

    with MariaDB(workdir) as db:
        db.uri("mydb")        # mysql://msgrelay:msgrelay@127.0.0.1:PORT/mydb
        db.sql("SELECT 1")    # through the mariadb client on the socket, as root

As a command (used by the Makefile for the C store contract tests):

    /usr/bin/python3 tests/e2e/mariadb.py run [--MARIADBD-OPTION...] -- CMD ARGS...

starts a server, runs CMD with MSGRELAY_TEST_MYSQL=<uri of a fresh database>
(and MSGRELAY_TEST_MYSQL_SOCKET=<the server's unix socket>) in its
environment, stops the server and exits with CMD's status. Options before
"--" go to mariadbd as they are (e.g. --innodb-autoinc-lock-mode=2).
Standard library only.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

USER = "msgrelay"
PASSWORD = "msgrelay"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDB:
    def __init__(self, workdir=None, extra_args=()):
        self._own_dir = workdir is None
        self.extra_args = list(extra_args)
        self.dir = workdir or tempfile.mkdtemp(prefix="msgrelay-mariadb-")
        self.datadir = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.log = os.path.join(self.dir, "mariadbd.log")
        self.port = None
        self.proc = None

    # -- life cycle --------------------------------------------------------

    def start(self, timeout=60):
        if not os.path.isdir(self.datadir):
            os.makedirs(self.datadir)
            subprocess.run(
                ["mariadb-install-db", "--user=root", "--datadir=" + self.datadir,
                 "--auth-root-authentication-method=normal", "--skip-test-db"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = _free_port()
        self._spawn()
        self._wait_ready(timeout)
        self.sql("CREATE USER IF NOT EXISTS '%s'@'127.0.0.1' IDENTIFIED BY '%s';"
                 "CREATE USER IF NOT EXISTS '%s'@'localhost' IDENTIFIED BY '%s';"
                 "GRANT ALL ON *.* TO '%s'@'127.0.0.1';"
                 "GRANT ALL ON *.* TO '%s'@'localhost';" %
                 (USER, PASSWORD, USER, PASSWORD, USER, USER))
        return self

    def _spawn(self):
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", "--user=root", "--datadir=" + self.datadir,
             "--socket=" + self.socket, "--port=%d" % self.port, "--bind-address=127.0.0.1",
             "--pid-file=" + os.path.join(self.dir, "mariadbd.pid"),
             "--log-error=" + self.log, "--skip-name-resolve", "--skip-log-bin",
             "--innodb-flush-log-at-trx-commit=1", "--innodb-buffer-pool-size=256M",
             "--max-connections=1000", "--tmpdir=" + self.dir] + self.extra_args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited with %s; log:\n%s" %
                                   (self.proc.returncode, self.log_tail()))
            r = subprocess.run(["mariadb", "--no-defaults", "-uroot", "--socket=" + self.socket,
                                "-e", "SELECT 1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("mariadbd not ready after %ss; log:\n%s" % (timeout, self.log_tail()))

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Stop the server by PID (SIGTERM: clean shutdown; SIGKILL: crash)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, timeout=60):
        """Start again on the same datadir and port (after stop())."""
        self._spawn()
        self._wait_ready(timeout)

    def close(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- use ----------------------------------------------------------------

    def sql(self, statements, database=None):
        """Run @statements as root over the socket; returns stdout (tab-separated rows)."""
        cmd = ["mariadb", "--no-defaults", "-uroot", "--socket=" + self.socket, "-N", "-B"]
        if database:
            cmd.append(database)
        r = subprocess.run(cmd + ["-e", statements], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("mariadb: %s" % r.stderr.strip())
        return r.stdout

    def create_database(self, name):
        self.sql("DROP DATABASE IF EXISTS `%s`; CREATE DATABASE `%s`;" % (name, name))
        return name

    def uri(self, database):
        return "mysql://%s:%s@127.0.0.1:%d/%s" % (USER, PASSWORD, self.port, database)

    def log_tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"


def _main(argv):
    if len(argv) < 3 or argv[1] != "run" or "--" not in argv:
        sys.stderr.write("usage: mariadb.py run [--MARIADBD-OPTION...] -- CMD ARGS...\n")
        return 2
    cmd = argv[argv.index("--") + 1:]
    extra = argv[2:argv.index("--")]
    if any(not a.startswith("--") for a in extra):
        sys.stderr.write("mariadb.py: options before -- must be --mariadbd-options\n")
        return 2
    with MariaDB(extra_args=extra) as db:
        env = dict(os.environ)
        env["MSGRELAY_TEST_MYSQL"] = db.uri(db.create_database("msgrelay_unit"))
        env["MSGRELAY_TEST_MYSQL_SOCKET"] = db.socket
        return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
