"""A fleet: 20 web hosts and 2 lbs (their own rig beside the session's), deploy + flip,
then the partial-failure path: two hosts unreachable, the deploy names them, the flip is
refused naming them, ``--retry-failed`` deploys only them, then the flip succeeds.

The fleet's project is a copy of the session project pointed at the fleet's hosts; it
installs from the session project's index (the hosts reach it through the root
namespace), so nothing is synced again. uv installs: 20 fresh venvs stay quick.
"""
import json
import re
import shutil
import subprocess

import pytest

from conftest import start_rig
from rig import extra_rig
from rig_project import Project
from rig_util import uv_on_hosts

pytestmark = [pytest.mark.rig, pytest.mark.slow]
N = 20
DOWN = ("web4", "web17")


@pytest.fixture(scope="module")
def fleet(rig, project, tmp_path_factory):
    tag, subnet = extra_rig(rig, 1)
    big = start_rig(n_web=N, n_lb=2, tag=tag, subnet=subnet)
    try:
        uv_on_hosts()
        path = tmp_path_factory.mktemp("fleet") / "demo"
        shutil.copytree(project.path, path, ignore=shutil.ignore_patterns(".essay"))
        proj = Project(big, path, project.port)
        proj.index_url = project.index_url            # the session project's index
        proj.write_config(extra="", web=None)
        text = (path / "essay.toml").read_text()
        text = text.replace("[deploy]\n", '[deploy]\ninstaller = "uv"\nparallel = 20\n'
                            'health_timeout = 30\n')
        text = re.sub(r'^upload_url = .*$', f'upload_url = "http://{rig.index_address}:'
                      f'{project.port}/"', text, flags=re.M)
        (path / "essay.toml").write_text(text)
        proj.git("commit", "-qam", "fleet config")
        yield big, proj
    finally:
        big.stop()


def es(proj, *args, code=0):
    p = proj.es(*args, timeout=600)
    assert p.returncode == code, f"es {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n" \
                                 f"{p.stderr}"
    return p


def versions_served(big, color, hosts):
    port = {"a": 8800, "b": 8810}[color]
    out = {}
    for h in hosts:
        status, body = big.http_get(h, port, "/health")
        out[h] = json.loads(body)["version"] if status == 200 else f"HTTP {status}"
    return out


def exec_channels(big, hosts):
    return {h: big.channels(h)["exec"] for h in hosts}


def link(big, host, up):
    """Cut a host off the network (its interface down), or bring it back."""
    cmds = ["link set eth0 up", f"route replace default via {big.index_address}"] if up \
        else ["link set eth0 down"]
    subprocess.run(["ip", "-n", big.netns(host), "-batch", "-"], check=True,
                   input="\n".join(cmds) + "\n", text=True)


def test_twenty_hosts_deploy_flip_and_retry_only_the_failed(fleet, project):
    big, proj = fleet
    v1, v2 = project.build(), project.build()

    # deploy + flip: every host serves v1, one channel per web host
    for h in big.hosts:
        big.mark(h)
    p = es(proj, "deploy", v1)
    assert exec_channels(big, big.web) == {h: 1 for h in big.web}
    assert f"{N} hosts: {N} ok, 0 failed" in p.stdout, p.stdout
    assert "web1: install" in p.stderr                       # plain lines: not a terminal
    es(proj, "flip", "a")
    assert set(versions_served(big, "a", big.web).values()) == {v1}

    # two hosts unreachable: the deploy names them, first in the table, with the reason
    for h in DOWN:
        link(big, h, up=False)
    try:
        for h in big.hosts:
            big.mark(h)
        p = es(proj, "deploy", v2, code=1)
        table = p.stdout.split("\n\n")[0].splitlines()
        assert [ln.split()[0] for ln in table[2:4]] == list(DOWN), p.stdout
        for h in DOWN:
            assert re.search(rf"^{h}\s+b\s+{re.escape(v2)}\s+FAILED\s+[\d.]+\s+"
                             r"(cannot connect|timed out)", p.stdout, re.M), p.stdout
        assert f"{N} hosts: {N - 2} ok, 2 failed (2 unreachable)" in p.stdout, p.stdout
        assert f"failed on {', '.join(DOWN)}" in p.stderr and "--retry-failed" in p.stderr
        assert exec_channels(big, [h for h in big.web if h not in DOWN]) == \
            {h: 1 for h in big.web if h not in DOWN}
        last = json.loads((proj.path / ".essay" / "last-deploy.json").read_text())
        assert last["failed"] == list(DOWN) and last["version"] == v2

        # the flip is refused naming them; what is live stays
        p = es(proj, "flip", "b", code=1)
        assert f"failed on {' '.join(DOWN)}; refusing to flip" in p.stderr, p.stderr
        assert set(versions_served(big, "a", big.web[:3]).values()) == {v1}
    finally:
        for h in DOWN:
            link(big, h, up=True)

    # a retry of another version is refused before any round trip
    p = es(proj, "deploy", v1, "--retry-failed", code=2)
    assert f"retry with `es deploy {v2} --retry-failed`" in p.stderr, p.stderr

    # the retry deploys only them; then the flip goes through
    for h in big.hosts:
        big.mark(h)
    p = es(proj, "deploy", v2, "--retry-failed")
    assert exec_channels(big, big.web) == {h: int(h in DOWN) for h in big.web}
    assert "2 hosts: 2 ok, 0 failed" in p.stdout, p.stdout
    es(proj, "flip", "b")
    assert set(versions_served(big, "b", big.web).values()) == {v2}
    history = es(proj, "history", "--lines", "4").stdout
    assert f"{N - 2} of {N} hosts ok; failed: {', '.join(DOWN)}" in history, history
    assert "retry of the failed hosts: 2 of 2 hosts ok" in history, history
    es(proj, "deploy", v2, "--retry-failed", code=2)          # nothing left to retry
