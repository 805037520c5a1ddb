"""Shared pytest configuration and fixtures for essay's tests."""
import os
import subprocess
import sys

import pytest

from rig import Rig, RigError   # tests/rig.py; pytest puts tests/ on sys.path


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

class Project:
    """A project made by ``es create``, configured for the rig, with its index running.

    ``project.es(*args)`` runs the real ``es`` CLI in it (a subprocess, HOME=rig.home) and
    returns the CompletedProcess; ``project.build()`` builds and uploads, returning the
    version."""

    def __init__(self, rig, path, port):
        self.rig, self.path, self.port = rig, path, port
        self.index_url = f"http://{rig.index_address}:{port}/simple/"

    def env(self, **extra):
        env = dict(os.environ, HOME=self.rig.home, NO_COLOR="1", **extra)
        env.pop("TWINE_USERNAME", None)
        env.pop("TWINE_PASSWORD", None)
        return env

    def es(self, *args, check=False, timeout=300, env=None, cwd=None):
        proc = subprocess.run([sys.executable, "-m", "essay", *map(str, args)],
                              cwd=cwd or self.path, env=env or self.env(), text=True,
                              capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"es {' '.join(map(str, args))} exited {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def build(self, *args) -> str:
        return self.es("build", *args, check=True).stdout.strip().splitlines()[-1]

    def git(self, *args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              cwd=self.path, check=True, capture_output=True, text=True).stdout

    def write_config(self, extra=""):
        (self.path / "essay.toml").write_text(self.rig.essay_toml(
            "demo", index_url=self.index_url,
            upload_url=f"http://{self.rig.index_address}:{self.port}/", extra=extra))
        self.git("commit", "-qam", "essay.toml for the rig", "--allow-empty")


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(host, port, timeout=20.0):
    import socket
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


@pytest.fixture(scope="session")
def project(rig, tmp_path_factory):
    """The session's rig project: created, configured, its index served and filled with
    its dependencies and supervisor (``es pypi sync``). Nothing is built yet."""
    from essay.create import create

    out = tmp_path_factory.mktemp("proj")
    path = create("demo", output_dir=str(out), no_input=True)
    proj = Project(rig, path, _free_port())
    proj.write_config()
    log = open(out / "pypiserver.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "essay", "pypi", "serve", "--host",
                               rig.index_address, "--port", str(proj.port)], cwd=path,
                              env=proj.env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_port(rig.index_address, proj.port)
        proj.es("pypi", "sync", check=True)
        yield proj
    finally:
        server.terminate()
        server.wait(10)
        log.close()
