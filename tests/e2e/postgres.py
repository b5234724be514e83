# SPDX-License-Identifier: MIT
"""A private PostgreSQL server for tests: postgres on a temp data directory,
socket directory and free loopback port, started and stopped by PID. No system
service (and no cluster of Debian's pg_ctlcluster) is touched.

PostgreSQL refuses to run as root, so when the tests run as root the server,
initdb and psql run as the `postgres` user, on a directory that user
owns (made under /tmp: pytest's own temp directories are closed to it). The
server runs with fsync=off: test data has to survive a crash of the server
(SIGKILL), never of the machine; `-c fsync=on` makes it durable (make bench).

    with Postgres() as db:
        db.uri("mydb")        # postgres://msgrelay:msgrelay@127.0.0.1:PORT/mydb
        db.sql("SELECT 1")    # through psql on the socket, as the superuser

As a command (used by the Makefile for the C store contract tests):

    /usr/bin/python3 tests/e2e/postgres.py run [-c NAME=VALUE...] -- CMD ARGS...

starts a server, runs CMD with MSGRELAY_TEST_POSTGRES=<uri of a fresh
database> (and MSGRELAY_TEST_POSTGRES_SOCKET=<the socket directory>) in its
environment, stops the server and exits with CMD's status. "-c NAME=VALUE"
options before "--" go to postgres as they are. Standard library only.
"""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

USER = "msgrelay"
PASSWORD = "msgrelay"
SERVER_USER = "postgres"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bindir():
    """The newest /usr/lib/postgresql/<version>/bin holding a postgres binary."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not found:
        raise RuntimeError("no PostgreSQL server under /usr/lib/postgresql (scripts/deps)")
    return os.path.dirname(found[-1])


def _as_server():
    """Popen arguments that run a command as the server's user when we are root (PostgreSQL
    will not run as root); the child is the command itself, so its PID is the server's."""
    if os.geteuid() == 0:
        return {"user": SERVER_USER, "group": SERVER_USER, "extra_groups": []}
    return {}


class Postgres:
    def __init__(self, extra_args=()):
        self.extra_args = list(extra_args)
        self.bindir = _bindir()
        self.dir = tempfile.mkdtemp(prefix="msgrelay-pg-")
        self.datadir = os.path.join(self.dir, "data")
        self.socket_dir = self.dir
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = None
        self.proc = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam(SERVER_USER)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    # -- life cycle --------------------------------------------------------

    def start(self, timeout=60):
        if not os.path.isdir(self.datadir):
            pwfile = os.path.join(self.dir, "pw")
            with open(pwfile, "w") as f:
                f.write(PASSWORD + "\n")
            if os.geteuid() == 0:
                pw = pwd.getpwnam(SERVER_USER)
                os.chown(pwfile, pw.pw_uid, pw.pw_gid)
            # the socket trusts the server's own user; TCP asks for a password
            subprocess.run(
                [os.path.join(self.bindir, "initdb"), "-D", self.datadir, "-U", SERVER_USER,
                 "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwfile,
                 "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir,
                **_as_server())
            os.unlink(pwfile)
        self.port = _free_port()
        self._spawn()
        self._wait_ready(timeout)
        self.sql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN "
                 "CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'; END IF; END $$;" %
                 (USER, USER, PASSWORD))
        return self

    def _spawn(self):
        # fsync off: a test server's data only has to survive the server's own crash (the page
        # cache keeps it), never the machine's; tests create many databases
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [os.path.join(self.bindir, "postgres"), "-D", self.datadir,
                 "-k", self.socket_dir, "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "max_connections=300", "-c", "log_min_messages=warning"]
                + self.extra_args,
                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True, cwd=self.dir,
                **_as_server())

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited with %s; log:\n%s" %
                                   (self.proc.returncode, self.log_tail()))
            r = subprocess.run([os.path.join(self.bindir, "pg_isready"), "-q",
                                "-h", self.socket_dir, "-p", str(self.port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres not ready after %ss; log:\n%s" % (timeout, self.log_tail()))

    def stop(self, sig=signal.SIGINT, timeout=60):
        """Stop the server by PID (SIGINT: fast shutdown; SIGKILL: crash, of the server's
        whole process group, its backends too, as a crash of its machine would)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if sig == signal.SIGKILL:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, timeout=60):
        """Start again on the same data directory and port (after stop())."""
        self._spawn()
        self._wait_ready(timeout)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- use ----------------------------------------------------------------

    def sql(self, statements, database="postgres"):
        """Run @statements (one string, or a list run one after the other, each in its own
        transaction) as the superuser over the socket; returns stdout (tab-separated rows, as
        mariadb.py's)."""
        if isinstance(statements, str):
            statements = [statements]
        cmd = [os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t", "-F", "\t",
               "-v", "ON_ERROR_STOP=1",
               "-h", self.socket_dir, "-p", str(self.port), "-U", SERVER_USER, "-d", database]
        for st in statements:
            cmd += ["-c", st]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=self.dir, **_as_server())
        if r.returncode != 0:
            raise RuntimeError("psql: %s" % r.stderr.strip())
        return r.stdout

    def create_database(self, name):
        self.sql(['DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name,
                  'CREATE DATABASE "%s" OWNER %s' % (name, USER)])
        return name

    def uri(self, database):
        return "postgres://%s:%s@127.0.0.1:%d/%s" % (USER, PASSWORD, self.port, database)

    def log_tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"


def _main(argv):
    if len(argv) < 3 or argv[1] != "run" or "--" not in argv:
        sys.stderr.write("usage: postgres.py run [-c NAME=VALUE...] -- CMD ARGS...\n")
        return 2
    cmd = argv[argv.index("--") + 1:]
    extra = argv[2:argv.index("--")]
    if len(extra) % 2 != 0 or any(extra[i] != "-c" for i in range(0, len(extra), 2)):
        sys.stderr.write("postgres.py: options before -- must be -c NAME=VALUE\n")
        return 2
    with Postgres(extra_args=extra) as db:
        env = dict(os.environ)
        env["MSGRELAY_TEST_POSTGRES"] = db.uri(db.create_database("msgrelay_unit"))
        env["MSGRELAY_TEST_POSTGRES_SOCKET"] = db.socket_dir
        return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
