"""Shared pytest configuration and fixtures for essay's tests."""
import os
import subprocess
import sys

import pytest

from rig import Rig, RigError   # tests/rig.py; pytest puts tests/ on sys.path
from rig_project import Project, running_project  # noqa: F401


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "rig: needs the real-infrastructure rig (root, ip netns, sshd, nginx)")
    config.addinivalue_line("markers", "slow: builds wheels or installs into new virtualenvs")


# --- The rig: real hosts in network namespaces (see tests/rig.py) ----------------------
# ``rig`` is one session-wide Rig(n_web=2): web1, web2, lb, each with its own sshd.
# If it cannot start, tests using it are skipped -- except under CI=true, where they
# fail: CI must never silently skip the real-infrastructure tests.

def start_rig(**kwargs):
    """Start a Rig(**kwargs) or skip the test (fail it when CI=true)."""
    try:
        return Rig(**kwargs).start()
    except (RigError, OSError, subprocess.SubprocessError) as e:
        reason = f"cannot start the test rig: {e}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def rig():
    """The session's started Rig; stopped (everything killed and removed) at the end."""
    # ESSAY_RIG_TAG / ESSAY_RIG_SUBNET let two test runs on one machine use two rigs.
    r = start_rig(n_web=2, tag=os.environ.get("ESSAY_RIG_TAG", "es"),
                  subnet=os.environ.get("ESSAY_RIG_SUBNET", "10.200.0"))
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def rig_home(rig, monkeypatch):
    """The rig, with HOME=rig.home for this test (Fabric/paramiko read ~/.ssh from it)."""
    monkeypatch.setenv("HOME", rig.home)
    return rig


@pytest.fixture
def make_rig():
    """Factory for extra rigs next to the session one: ``make_rig(tag="et",
    subnet="10.201.0", n_web=1)`` (tag and subnet must differ from the session rig's).
    Each is stopped after the test."""
    rigs = []

    def make(**kwargs):
        rigs.append(start_rig(**kwargs))
        return rigs[-1]

    yield make
    for r in rigs:
        r.stop()


# --- A project on the rig: es create'd, its own pypiserver, dependencies synced ---------
# (tests/rig_project.py; bench/ uses the same)

@pytest.fixture(scope="session")
def project(rig, tmp_path_factory):
    """The session's rig project: created, configured, its index served and filled with
    its dependencies and supervisor (``es pypi sync``). Nothing is built yet."""
    with running_project(rig, tmp_path_factory.mktemp("proj")) as proj:
        yield proj
