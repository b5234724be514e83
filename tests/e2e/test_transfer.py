# SPDX-License-Identifier: MIT
"""The README's "A bank transfer in three commands: watch 30 move", run as
written: `make transfer` (the real target: a private MariaDB and the example
service), then the section's curl commands, with only the ports changed so
the test never collides with a relay or a service already on 36789 / 8082.
The relay fixture stands for `make run`. The lines the README shows must
appear in the service's output, and the balances must end as it says."""
import json
import os
import re
import signal
import subprocess

from e2e_helpers import wait_for
from sdk_helpers import REPO, SANITIZER_MARKS, build_dir, fetch, free_port, transfer_binary

SECTION = "## A bank transfer in three commands: watch 30 move"


def readme_section():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index(SECTION)
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def code_blocks(section):
    return re.findall(r"```(\w*)\n(.*?)```", section, re.S)


def pattern(line):
    """A README line as a regex: its '…' stands for whatever the run printed there."""
    return re.compile(re.escape(line).replace("…", ".+"))


def stop_group(proc):
    """Ctrl-C to the whole `make transfer` group, as a terminal would; SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_readme_bank_transfer_in_three_commands(relay, tmp_path):
    section = readme_section()
    blocks = code_blocks(section)
    commands = [line.split("#")[0].strip() for line in blocks[0][1].splitlines() if line.strip()]
    assert commands[:2] == ["make run", "make transfer"], commands
    assert len(commands) == 3 and commands[2].startswith("curl "), commands
    shown = [line for line in blocks[1][1].splitlines() if line.strip()]
    balances_cmd = re.search(r"`(curl -s localhost:8082/api/balances)` says `([^`]+)`", section)
    assert balances_cmd, "the section names the balances command and its answer"
    answer = re.search(r"The third answers `([^`]+)`", section).group(1)

    transfer_binary()  # fail early and clearly when the example is not built
    r = relay()  # terminal 1
    port = free_port()
    log_path = str(tmp_path / "make-transfer.log")
    with open(log_path, "wb") as log:
        # terminal 2: the real target, prerequisites taken as built (-o all)
        proc = subprocess.Popen(
            ["make", "-s", "-o", "all", "transfer", "BUILD=" + build_dir(),
             "TRANSFER_ARGS=--port %d --relay %s/api/dtmsvr" % (port, r.base)],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def log():
        with open(log_path, errors="replace") as f:
            return f.read()

    def balances():
        try:
            status, data = fetch("GET", "http://127.0.0.1:%d/api/balances" % port, timeout=2)
            return data if status == 200 else None
        except OSError:
            return None

    def run(cmd):
        out = subprocess.run(cmd.replace("8082", str(port)), shell=True, capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    try:
        assert wait_for(balances, 60, lambda: "the service on :%d; log:\n%s" % (port, log())) == \
            {"1": "1000.00", "2": "1000.00"}
        # terminal 3
        got = json.loads(run(commands[2]))
        assert pattern(answer).fullmatch(json.dumps(got, separators=(",", ":"))), (answer, got)
        r.wait_state(got["gid"], "succeed", timeout=10)
        assert json.loads(run(balances_cmd.group(1))) == json.loads(balances_cmd.group(2))
        wait_for(lambda: all(pattern(s).search(log()) for s in shown), 5,
                 lambda: "the README's lines %r in:\n%s" % (shown, log()))
        # the failure the section promises: too much, nothing moves, the message fails
        status, ans = fetch("POST", "http://127.0.0.1:%d/api/transfer" % port,
                            {"from": 1, "to": 2, "amount": 5000})
        assert status == 409 and ans["result"] == "failure", ans
        assert r.state(ans["gid"]) == "failed"
        assert balances() == json.loads(balances_cmd.group(2))
    finally:
        stop_group(proc)
    assert "transfer: stopping" in log(), "Ctrl-C did not stop the service cleanly:\n" + log()
    assert not any(m in log() for m in SANITIZER_MARKS), "sanitizer report:\n" + log()
