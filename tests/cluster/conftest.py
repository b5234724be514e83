# SPDX-License-Identifier: MIT
"""Fixtures of the cluster suite (`make test-cluster`): the end-to-end
fixtures of tests/e2e (app, relay) and a private 3-node Galera cluster
(tests/e2e/galera.py) shared by the module. Kept out of `make test`'s e2e run
because a cluster takes a minute to start and stop on a small machine."""
import importlib.util
import os
import sys

import pytest

E2E = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "e2e"))
sys.path.insert(0, E2E)

_spec = importlib.util.spec_from_file_location("e2e_conftest", os.path.join(E2E, "conftest.py"))
e2e_conftest = importlib.util.module_from_spec(_spec)
sys.modules["e2e_conftest"] = e2e_conftest
_spec.loader.exec_module(e2e_conftest)

app = e2e_conftest.app
relay = e2e_conftest.relay
pytest_runtest_makereport = e2e_conftest.pytest_runtest_makereport


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A private 3-node Galera cluster on loopback, stopped by PID at the end."""
    import galera

    if not galera.available():
        pytest.skip("galera-4, rsync or the mysql user is missing (scripts/deps installs them)")
    # its own directory under /tmp: the mysql user cannot enter pytest's (mode 0700)
    c = galera.Galera(3)
    c.start()
    try:
        yield c
    finally:
        c.close()
