"""The fault matrix, on the rig, with keep-alive load running through the lb's nginx.

For each fault -- a web host unreachable mid-deploy, pip install failing, the new colour
failing health, ``nginx -t`` failing, SSH auth failing, the index down, SIGINT in the
middle of a deploy -- the live colour keeps serving (0 failed requests over the whole
run), the exit is non-zero with a clear per-host message, the lock is released, and
``es status`` / ``es history`` tell the truth afterwards.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from rig_load import Load

pytestmark = pytest.mark.rig


def netns_pids(ns, comm):
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    pids = []
    for pid in out.split():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                pids.append(int(pid))
        except OSError:
            pass
    return pids


def restart_sshd(rig, host):
    d = rig.sshd_dir(host)
    subprocess.run(["ip", "netns", "exec", rig.netns(host), "/usr/sbin/sshd", "-f",
                    f"{d}/sshd_config", "-E", f"{d}/sshd.log"], check=True)
    for _ in range(50):
        if subprocess.run(rig.ssh_argv(host, "true"), capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"sshd on {host} did not come back")


def build_changed(project, path, old, new, why) -> str:
    """Build a version with ``old`` replaced by ``new`` in ``path``; the commit is then
    reverted, so the project's tree is as before."""
    f = project.path / path
    text = f.read_text()
    assert old in text, f"{old!r} not in {path}"
    f.write_text(text.replace(old, new))
    project.git("commit", "-qam", why)
    version = project.build()
    project.git("revert", "--no-edit", "HEAD")
    return version


@pytest.fixture(scope="module")
def versions(project):
    """v1 (good), v2 (good), a version whose install fails, one that answers 500."""
    project.write_config()
    good1, good2 = project.build(), project.build()
    return {"v1": good1, "v2": good2,
            "bad_install": build_changed(project, "pyproject.toml", '"gunicorn>=21.2",',
                                         '"gunicorn>=21.2", "essay-no-such-package",',
                                         "a dependency the index does not have"),
            "bad_health": build_changed(project, "demo/app.py",
                                        '_respond(start_response, "200 OK"',
                                        '_respond(start_response, "500 Internal Server Error"',
                                        "an app that answers 500")}


def test_fault_matrix(project, versions):
    rig, es = project.rig, project.es
    v1, v2 = versions["v1"], versions["v2"]
    project.write_config()
    es("lock", "break")
    assert es("deploy", v1, "--color", "a", "--force").returncode == 0
    assert es("deploy", v2, "--color", "b", "--force").returncode == 0
    assert es("flip", "a").returncode == 0
    load = Load(f"http://{rig.address('lb')}:8080/")
    time.sleep(1)

    def after(r, *needles, history="failed"):
        """Non-zero, clear message; lock free; status and history true; a still live."""
        text = r.stdout + r.stderr
        assert r.returncode != 0, text
        assert "Traceback" not in text, text
        for needle in needles:
            assert needle in text, f"{needle!r} not in:\n{text}"
        assert "the lock is free" in es("lock", "status").stderr
        status = es("status")
        assert status.returncode == 0, status.stderr
        rows = [line.split() for line in status.stdout.splitlines()]
        for host in rig.web:
            assert [host, "a", v1, "live"] == [c for c in next(
                row for row in rows if row[:2] == [host, "a"])][:4]
        assert "live colour: a" in status.stderr
        if history:
            last = es("history", "--lines", "1").stdout.splitlines()[-1]
            assert history in last, last

    try:
        # 1. a web host becomes unreachable in the middle of a deploy
        proc = subprocess.Popen([*project.es_argv("deploy", v2, "--color", "b")],
                                cwd=project.path, env=project.env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)
        for pid in netns_pids(rig.netns("web2"), "sshd"):
            os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
        restart_sshd(rig, "web2")
        after(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), "web2")

        # 2. pip install fails (a dependency the index does not have)
        after(es("deploy", versions["bad_install"], "--color", "b"), "web1", "web2",
              "install failed", "essay-no-such-package")

        # 3. the new colour fails its health check (answers 500)
        after(es("deploy", versions["bad_health"], "--color", "b"), "health failed", "500")

        # 4. nginx -t fails (a broken template): the old site file stays, nginx serves on
        site = Path(rig.nginx_site_abs).read_text()
        tpl = project.path / "conf" / "nginx.conf.j2"
        good = tpl.read_text()
        tpl.write_text(good + "\nthis is not nginx;\n")
        project.git("commit", "-qam", "a broken nginx template")
        after(es("flip", "a"), "nginx config test failed", history="failed")
        assert Path(rig.nginx_site_abs).read_text() == site
        project.git("revert", "--no-edit", "HEAD")

        # 5. SSH authentication fails on one host
        keys = Path(rig.sshd_dir("web1")) / "authorized_keys"
        saved = keys.read_text()
        keys.write_text("")
        try:
            r = es("deploy", v2, "--color", "b")
        finally:
            keys.write_text(saved)
        after(r, "web1", "authentication failed")

        # 6. the index is down: refused before any host is touched, nothing to record
        for h in rig.hosts:
            rig.mark(h)
        toml = project.path / "essay.toml"
        toml.write_text(toml.read_text().replace(f":{project.port}/", ":9/"))
        project.git("commit", "-qam", "index down")
        r = es("deploy", "latest", "--color", "b")
        assert all(rig.channels(h)["exec"] == 0 for h in rig.hosts)  # no host touched
        project.write_config()
        after(r, "unreachable", ":9/", history=None)

        # 7. SIGINT in the middle of a deploy
        proc = subprocess.Popen([*project.es_argv("deploy", v2, "--color", "b")],
                                cwd=project.path, env=project.env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        after(subprocess.CompletedProcess(proc.args, proc.returncode, out, err),
              "interrupted")

        # and the next deploy still works
        assert es("deploy", v2, "--color", "b").returncode == 0
    finally:
        result = load.stop()
    assert result["requests"] > 1000, result["output"]
    assert result["non2xx"] == 0 and result["socket_errors"] == 0, result["output"]
