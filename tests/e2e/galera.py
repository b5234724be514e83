# SPDX-License-Identifier: MIT
"""A private 3-node MariaDB Galera cluster for tests, on loopback: three
datadirs, three SQL ports, three wsrep (group), IST and SST ports, state
transfer by rsync. Each mariadbd runs as the `mysql` user (rsync SST refuses
root) in a directory that user owns; every node is started and stopped by
PID. No system service is touched.

    with Galera(n=3) as c:
        c.uri("db")                 # mysql://msgrelay:msgrelay@127.0.0.1:P1,127.0.0.1:P2,.../db
        c.uri("db", first=1)        # the same list, node 1 first
        c.nodes[0].sql("SELECT 1")  # as root over node 0's socket
        c.kill(1)                   # SIGKILL node 1
        c.rejoin(1)                 # --wsrep-recover, then start at that position (IST)

As a command: `galera.py run -- CMD ARGS...` starts a cluster, runs CMD with
MSGRELAY_TEST_MYSQL=<multi-host uri of a fresh database> (and
MSGRELAY_TEST_MYSQL_NODE<i>=<the same list, node i first>), stops it.
Standard library only.
"""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mariadb import USER, PASSWORD  # noqa: E402

PROVIDER = "/usr/lib/galera/libgalera_smm.so"
OS_USER = "mysql"


def _free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def available():
    """Whether this machine can run the cluster (galera-4, rsync, a mysql user)."""
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        return False
    return os.path.exists(PROVIDER) and shutil.which("rsync") is not None \
        and shutil.which("mariadbd") is not None


class Node:
    def __init__(self, cluster, i, port, gport, ist, sst):
        self.cluster = cluster
        self.i = i
        self.port, self.gport, self.ist, self.sst = port, gport, ist, sst
        self.dir = os.path.join(cluster.dir, "node%d" % i)
        self.datadir = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.log = os.path.join(self.dir, "mariadbd.log")
        self.proc = None

    def _args(self):
        c = self.cluster
        return ["mariadbd", "--no-defaults", "--user=" + OS_USER, "--datadir=" + self.datadir,
                "--socket=" + self.socket, "--port=%d" % self.port,
                "--bind-address=127.0.0.1", "--pid-file=" + os.path.join(self.dir, "pid"),
                "--log-error=" + self.log, "--skip-name-resolve", "--tmpdir=" + self.dir,
                "--innodb-buffer-pool-size=128M", "--innodb-log-file-size=48M",
                "--innodb-flush-log-at-trx-commit=1", "--max-connections=500",
                "--binlog-format=ROW", "--innodb-autoinc-lock-mode=2",
                "--default-storage-engine=InnoDB",
                "--wsrep-on=ON", "--wsrep-provider=" + PROVIDER,
                "--wsrep-cluster-name=msgrelay_test",
                "--wsrep-node-name=node%d" % self.i,
                "--wsrep-node-address=127.0.0.1:%d" % self.gport,
                "--wsrep-node-incoming-address=127.0.0.1:%d" % self.port,
                "--wsrep-sst-receive-address=127.0.0.1:%d" % self.sst,
                "--wsrep-cluster-address=gcomm://" + ",".join(
                    "127.0.0.1:%d" % n.gport for n in c.nodes),
                "--wsrep-sst-method=rsync",
                "--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:%d;"
                "ist.recv_addr=127.0.0.1:%d;gcache.size=256M;"
                "evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;"
                "evs.install_timeout=PT6S;pc.wait_prim_timeout=PT30S" % (self.gport, self.ist)]

    def spawn(self, extra=()):
        self.proc = subprocess.Popen(self._args() + list(extra), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def sql(self, statements, database=None, timeout=30):
        cmd = ["mariadb", "--no-defaults", "-uroot", "--socket=" + self.socket, "-N", "-B"]
        if database:
            cmd.append(database)
        r = subprocess.run(cmd + ["-e", statements], capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("node%d: mariadb: %s" % (self.i, r.stderr.strip()))
        return r.stdout

    def status(self, name):
        try:
            out = self.sql("SHOW STATUS LIKE '%s'" % name, timeout=5)
        except (RuntimeError, subprocess.TimeoutExpired):
            return None
        parts = out.split()
        return parts[1] if len(parts) == 2 else None

    def synced(self):
        return self.status("wsrep_local_state_comment") == "Synced" and \
            self.status("wsrep_ready") == "ON"

    def wait_synced(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("node%d exited with %s; log:\n%s" %
                                   (self.i, self.proc.returncode, self.log_tail()))
            if self.synced():
                return
            time.sleep(0.2)
        raise RuntimeError("node%d not synced after %ss; log:\n%s" %
                           (self.i, timeout, self.log_tail()))

    def stop(self, sig=signal.SIGTERM, timeout=60):
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

    def recover(self):
        """`mariadbd --wsrep-recover`: the position (uuid:seqno) to start with after a crash."""
        r = subprocess.run(self._args() + ["--wsrep-recover",
                                           "--log-error=" + self.log + ".recover"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("node%d: --wsrep-recover failed" % self.i)
        with open(self.log + ".recover", errors="replace") as f:
            found = re.findall(r"Recovered position:\s*(\S+:-?\d+)", f.read())
        if not found:
            raise RuntimeError("node%d: no recovered position" % self.i)
        return found[-1]

    def log_tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"


class Galera:
    def __init__(self, n=3, workdir=None):
        self._own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="msgrelay-galera-")
        ports = _free_ports(4 * n)
        self.nodes = []
        for i in range(n):
            self.nodes.append(Node(self, i, *ports[4 * i:4 * i + 4]))

    def start(self, timeout=180):
        pw = pwd.getpwnam(OS_USER)
        os.chmod(self.dir, 0o755)
        for node in self.nodes:
            os.makedirs(node.datadir, exist_ok=True)
            for d in (node.dir, node.datadir):
                os.chown(d, pw.pw_uid, pw.pw_gid)
        first = self.nodes[0]
        subprocess.run(["mariadb-install-db", "--no-defaults", "--user=" + OS_USER,
                        "--datadir=" + first.datadir,
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first.spawn(["--wsrep-new-cluster"])
        first.wait_synced(timeout)
        first.sql("CREATE USER IF NOT EXISTS '%s'@'127.0.0.1' IDENTIFIED BY '%s';"
                  "CREATE USER IF NOT EXISTS '%s'@'localhost' IDENTIFIED BY '%s';"
                  "GRANT ALL ON *.* TO '%s'@'127.0.0.1';"
                  "GRANT ALL ON *.* TO '%s'@'localhost';" %
                  (USER, PASSWORD, USER, PASSWORD, USER, USER))
        # the others join by SST (rsync), one at a time
        for node in self.nodes[1:]:
            node.spawn()
            node.wait_synced(timeout)
        return self

    def kill(self, i):
        """SIGKILL node @i: a crash."""
        self.nodes[i].stop(signal.SIGKILL)

    def rejoin(self, i, timeout=180):
        """Start a killed node again at its recovered position, so it joins by IST."""
        node = self.nodes[i]
        pos = node.recover()
        node.spawn(["--wsrep-start-position=" + pos])
        node.wait_synced(timeout)
        return pos

    def joined_by_ist(self, i):
        with open(self.nodes[i].log, errors="replace") as f:
            text = f.read()
        return "IST received" in text or "Receiving IST" in text

    def close(self):
        # the last node down is a clean shutdown of a 1-node primary component
        for node in reversed(self.nodes):
            node.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()

    def sql(self, statements, database=None):
        """Run @statements on the first live node."""
        for node in self.nodes:
            if node.alive():
                return node.sql(statements, database)
        raise RuntimeError("no live node")

    def create_database(self, name):
        self.sql("DROP DATABASE IF EXISTS `%s`; CREATE DATABASE `%s`;" % (name, name))
        return name

    def hosts(self, first=0):
        order = self.nodes[first:] + self.nodes[:first]
        return ",".join("127.0.0.1:%d" % n.port for n in order)

    def uri(self, database, first=0, options=""):
        return "mysql://%s:%s@%s/%s%s" % (USER, PASSWORD, self.hosts(first), database,
                                           "?" + options if options else "")


def _main(argv):
    if len(argv) < 3 or argv[1] != "run" or "--" not in argv:
        sys.stderr.write("usage: galera.py run -- CMD ARGS...\n")
        return 2
    cmd = argv[argv.index("--") + 1:]
    with Galera() as c:
        env = dict(os.environ)
        db = c.create_database("msgrelay_unit")
        env["MSGRELAY_TEST_MYSQL"] = c.uri(db)
        for i in range(len(c.nodes)):
            env["MSGRELAY_TEST_MYSQL_NODE%d" % i] = c.uri(db, first=i)
        env["MSGRELAY_TEST_MYSQL_SOCKET"] = c.nodes[0].socket
        return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
