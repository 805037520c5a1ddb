"""``es doctor`` on the real rig: passes as the rig is, then fails -- naming the host, the
check and the fix -- on a loopback index URL, a python without a working venv module, and
an ``[nginx] test`` the lb user cannot run, an ``[nginx] pid_file`` naming no nginx. One
round trip per host."""
import re
import shutil
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.rig]


def doctor(project, toml=None):
    if toml is not None:
        (project.path / "essay.toml").write_text(toml)
    try:
        return project.es("doctor")
    finally:
        project.write_config()


def rig_toml(project, index_url=None, **subs):
    rig = project.rig
    text = rig.essay_toml("demo", index_url=index_url or project.index_url,
                          upload_url=f"http://{rig.index_address}:{project.port}/")
    for old, new in subs.items():
        text = re.sub(rf"^{old} = .*$", f"{old} = {new}", text, flags=re.M)
    return text


def failed(p, host, check):
    m = re.search(rf"^{re.escape(host)}\s+{check}\s+FAIL\s+(.*)$", p.stdout, re.M)
    assert m, p.stdout
    return m.group(1)


def test_doctor_passes_on_the_rig_in_one_round_trip_per_host(rig, project):
    for h in rig.hosts:
        rig.mark(h)
    p = doctor(project)
    assert p.returncode == 0, p.stdout + p.stderr
    for h in rig.web:
        for check in ("ssh", "python", "venv", "index"):
            assert re.search(rf"^{h}\s+{check}\s+ok\b", p.stdout, re.M), p.stdout
    for check in ("ssh", "nginx-test", "nginx-reload", "nginx-pid", "python3", "state-dir"):
        assert re.search(rf"^{rig.lb}\s+{check}\s+ok\b", p.stdout, re.M), p.stdout
    for check in ("essay.toml", "project", "conf"):
        assert re.search(rf"^\(local\)\s+{re.escape(check)}\s+ok\b", p.stdout, re.M), p.stdout
    assert "all" in p.stderr and "checks passed" in p.stderr
    for h in rig.hosts:
        assert rig.channels(h) == {"exec": 1, "shell": 0, "sftp": 0}, h


def test_doctor_fails_on_a_loopback_index_url(rig, project):
    p = doctor(project, rig_toml(project, index_url=f"http://127.0.0.1:{project.port}/simple/"))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "a loopback address, but the web hosts web1, web2 are remote" in failed(
        p, "(local)", "index")
    for h in rig.web:
        assert "unreachable" in failed(p, h, "index")
    assert "fix: set [index] url to this machine's address" in p.stdout


def test_doctor_fails_on_a_python_without_venv(rig, project):
    """A python whose ensurepip is missing (Debian without python3-venv): venv cannot work."""
    d = Path(tempfile.mkdtemp(prefix="doctor-py-"))
    try:
        (d / "shadow").mkdir()
        (d / "shadow" / "ensurepip.py").write_text(
            'raise ModuleNotFoundError("No module named ensurepip")\n')
        (d / "python3").write_text(f'#!/bin/sh\nPYTHONPATH={d}/shadow exec /usr/bin/python3 "$@"\n')
        for p in (d, d / "shadow", d / "shadow" / "ensurepip.py", d / "python3"):
            p.chmod(0o755)
        p = doctor(project, rig_toml(project).replace('python = "/usr/bin/python3"',
                                                      f'python = "{d}/python3"'))
    finally:
        shutil.rmtree(d)
    assert p.returncode == 1, p.stdout + p.stderr
    for h in rig.web:
        assert "No module named ensurepip" in failed(p, h, "venv"), p.stdout
    assert "fix: install the venv module" in p.stdout


def test_doctor_fails_on_an_nginx_test_the_lb_user_cannot_run(rig, project):
    p = doctor(project, rig_toml(project, test='"sudo -n nginx -t"'))
    assert p.returncode == 1, p.stdout + p.stderr
    failed(p, rig.lb, "nginx-test")
    assert "fix: make [nginx] test runnable by the lb user" in p.stdout
    assert re.search(rf"^{rig.lb}\s+nginx-reload\s+ok\b", p.stdout, re.M), p.stdout


def test_doctor_fails_on_a_pid_file_naming_no_nginx(rig, project):
    """``[nginx] pid_file`` missing, then naming a process that is not nginx's master."""
    p = doctor(project, rig_toml(project, pid_file='"~/nginx/none.pid"'))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "~/nginx/none.pid names no running nginx master" in failed(p, rig.lb, "nginx-pid")
    assert "fix: set [nginx] pid_file to the path in nginx's pid directive" in p.stdout
    rig.sh(rig.lb, "sleep 60 >/dev/null 2>&1 </dev/null & echo $! > ~/not-nginx.pid")
    try:
        p = doctor(project, rig_toml(project, pid_file='"~/not-nginx.pid"'))
    finally:
        rig.sh(rig.lb, "kill $(cat ~/not-nginx.pid); rm -f ~/not-nginx.pid")
    assert p.returncode == 1, p.stdout + p.stderr
    failed(p, rig.lb, "nginx-pid")
