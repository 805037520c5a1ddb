"""Secrets and records on the real rig: an index password never on a command line or in a
readable file, exact version pins, release.json written by a JSON encoder, ``es status``
exiting non-zero when a host or an lb cannot be read.

Uses the session's project and rig; each test writes the essay.toml it needs (its own
prefix and ports, so it never disturbs another file's colours) and puts the rig's back.
"""
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rig_project import wait_port, free_port
from rig_util import uv_on_hosts

pytestmark = [pytest.mark.rig, pytest.mark.slow]
PREFIX = "~/hard"
PORTS = (8860, 8870)
PASSWORD = "pw-Secr3t-" + os.urandom(6).hex()


def write_toml(project, index_url=None, extra="", web=None, site=None, installer=None):
    rig = project.rig
    text = rig.essay_toml("demo", index_url=index_url or project.index_url,
                          upload_url=f"http://{rig.index_address}:{project.port}/",
                          extra="\n[ssh]\nconnect_timeout = 5\n" + extra)
    text = text.replace('prefix = "~/demo"', f'prefix = "{PREFIX}"')
    text = text.replace("a = 8800\nb = 8810", f"a = {PORTS[0]}\nb = {PORTS[1]}")
    text = text.replace('health_path = "/health"\n', 'health_path = "/health"\nhealth_timeout = 20\n'
                        + (f"installer = {json.dumps(installer)}\n" if installer else ""))
    # its own lb state: the versions recorded here never confuse another file's flips
    text = re.sub(r"^site = .*$", lambda m: (f"site = {json.dumps(site)}" if site else m[0])
                  + '\nstate_dir = "~/hard-state"', text, flags=re.M)
    if web is not None:
        text = re.sub(r"^web = .*$", "web = " + json.dumps(web), text, flags=re.M)
    (project.path / "essay.toml").write_text(text)


@contextlib.contextmanager
def configured(project, **kw):
    write_toml(project, **kw)
    try:
        yield
    finally:
        project.write_config()


@pytest.fixture(scope="module")
def version(project):
    write_toml(project)
    try:
        return project.build()
    finally:
        project.write_config()


@pytest.fixture(scope="module")
def locked_index(rig, project, tmp_path_factory):
    """A second pypiserver over the project's packages that wants a password for
    everything (downloads and listings too); yields its URL, without the password (it
    comes from outside git: ESSAY_INDEX_PASSWORD, .essay/credentials.json)."""
    from passlib.apache import HtpasswdFile

    d = tmp_path_factory.mktemp("locked")
    ht = HtpasswdFile(str(d / "htpasswd"), new=True, default_scheme="sha256_crypt")
    ht.set_password("essay", PASSWORD)
    ht.save()
    port = free_port()
    log = open(d / "log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "pypiserver", "run", "--host", rig.index_address, "--port",
         str(port), "--passwords", str(d / "htpasswd"), "--authenticate", "download,list,update",
         "--disable-fallback", str(project.path / ".essay" / "packages")],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(rig.index_address, port)
        yield f"http://{rig.index_address}:{port}/simple/"
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def shutdown(rig):
    rig.sh(rig.lb, "rm -rf ~/hard-state", check=False)
    for h in rig.web:
        for c in "ab":
            rig.sh(h, f"d={PREFIX}/{c}; [ -x $d/bin/supervisorctl ] && $d/bin/supervisorctl "
                      f"-c $d/etc/supervisord.conf shutdown", check=False)
        rig.sh(h, f"rm -rf {PREFIX}", check=False)   # after both colours are shut down
    # supervisord stops its programs after answering: the next test's colour needs the ports
    ports = " or ".join(f"sport = :{p + i}" for p in PORTS for i in (0, 1))
    for h in rig.web:
        end = time.monotonic() + 30
        while rig.sh(h, f"ss -Htln '( {ports} )'").stdout.strip():
            assert time.monotonic() < end, f"{h}: the colours' ports still in use"
            time.sleep(0.1)


class CmdlineSampler(threading.Thread):
    """Reads every process's command line (/proc/*/cmdline: the rig's hosts share this
    machine's process table) as often as it can until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.samples, self.leaks, self.pips = threading.Event(), 0, [], 0

    def run(self):
        while not self.stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                if PASSWORD.encode() in argv:
                    self.leaks.append(argv.decode("utf-8", "replace"))
                if b"pip install" in argv:
                    self.pips += 1
            self.samples += 1


@contextlib.contextmanager
def index_credentials_file(project, password):
    """``"index"`` in the project's .essay/credentials.json (0600) for the test's span."""
    path = project.path / ".essay" / "credentials.json"
    saved = path.read_text()
    path.write_text(json.dumps({**json.loads(saved), "index": {"password": password}}))
    try:
        yield path
    finally:
        path.write_text(saved)


@pytest.mark.parametrize("installer, color, variable", [("pip", "a", "PIP_INDEX_URL"),
                                                       ("uv", "b", "UV_DEFAULT_INDEX")])
def test_index_password_from_outside_git_never_in_argv_output_a_file_or_git(
        rig, project, version, locked_index, installer, color, variable):
    """The password is in no essay.toml: it comes from .essay/credentials.json (a dry
    run) and from ESSAY_INDEX_PASSWORD (a real deploy, every argv sampled), with pip
    (PIP_INDEX_URL) and uv (UV_DEFAULT_INDEX) as the installer."""
    if installer == "uv":
        uv_on_hosts()
    try:
        with configured(project, index_url=locked_index, installer=installer):
            assert PASSWORD not in (project.path / "essay.toml").read_text()
            p = project.es("deploy", version, "--color", color, "--dry-run")
            assert p.returncode != 0 and "answered 401" in p.stderr, p.stderr  # it needs one
            with index_credentials_file(project, PASSWORD) as creds:
                assert oct(creds.stat().st_mode & 0o777) == "0o600"
                dry = project.es("deploy", version, "--color", color, "--dry-run")
                assert dry.returncode == 0, dry.stderr
                assert PASSWORD not in dry.stdout + dry.stderr
                assert re.search(rf"{variable}='?http://essay:\*\*\*@", dry.stdout), dry.stdout
                shown = project.es("config", "--json")
                assert PASSWORD not in shown.stdout + shown.stderr
                assert json.loads(shown.stdout)["index"]["password_from"] == \
                    ".essay/credentials.json"

            sampler = CmdlineSampler()
            sampler.start()
            try:
                p = project.es("deploy", version, "--color", color,
                               env=project.env(ESSAY_INDEX_PASSWORD=PASSWORD))
            finally:
                sampler.stop.set()
                sampler.join()
            assert p.returncode == 0, p.stdout + p.stderr
            assert PASSWORD not in p.stdout + p.stderr
            assert sampler.pips > 0, f"the sampler never saw {installer} run: it proves nothing"
            assert sampler.leaks == [], sampler.leaks
            for h in (*rig.web, rig.lb):
                found = rig.sh(h, f"find ~ /tmp -xdev -user \"$USER\" -type f -print0 2>/dev/null "
                                  f"| xargs -0r grep -lsF -- {PASSWORD}; true").stdout
                assert found.strip() == "", f"{h}: files holding the password: {found}"
            for h in rig.web:
                rel = json.loads(rig.sh(h, f"cat {PREFIX}/{color}/release.json").stdout)
                assert rel["version"] == version and rel["ssh_user"] == rig.user(h)
            # nowhere in git: no commit, no change to a tracked file, no file git would add
            assert PASSWORD not in project.git("log", "-p", "--all")
            assert PASSWORD not in project.git("diff", "HEAD")
            others = project.git("ls-files", "--others", "--exclude-standard").split()
            assert not [f for f in others if PASSWORD in (project.path / f).read_text()]
    finally:
        shutdown(rig)


def test_exact_pin_and_a_json_record_whatever_the_user_is_called(rig, project, version):
    """V+label on the index does not replace V; LOGNAME with quotes still writes JSON."""
    labelled = project.build("--version", f"{version}+zz")
    assert labelled == f"{version}+zz"
    weird = 'mallory"\\ \u2028x'
    try:
        with configured(project):
            p = project.es("deploy", version, "--color", "b",
                           env=project.env(LOGNAME=weird, USER=weird))
            assert p.returncode == 0, p.stdout + p.stderr
            for h in rig.web:
                status, body = rig.http_get(h, PORTS[1], "/health")
                assert json.loads(body)["version"] == version
                rel = json.loads(rig.sh(h, f"cat {PREFIX}/b/release.json").stdout)
                assert rel["version"] == version and rel["user"].startswith(weird + "@")
                assert rel["ssh_user"] == rig.user(h)
            s = project.es("status")
            assert s.returncode == 0, s.stdout + s.stderr
            assert re.search(rf"^web1\s+b\s+{re.escape(version)}\s", s.stdout, re.M), s.stdout
            # es history: the entry is one row (split on "\n" only, not on U+2028)
            recorded = rig.sh(rig.lb, "cat ~/hard-state/history").stdout.count("\n")
            h = project.es("history")
            assert h.returncode == 0, h.stdout + h.stderr
            rows = [line for line in h.stdout.split("\n") if "mallory" in line]
            assert len(rows) == 1 and "deploy" in rows[0] and version in rows[0], h.stdout
            assert f"{recorded} entries" in h.stderr, (recorded, h.stderr)
        # [nginx] site at a file essay did not write: never overwritten
        victim = "ssh-ed25519 AAAA... someone@somewhere\n"
        rig.sh(rig.lb, "mkdir -p ~/.hard-ssh && cat > ~/.hard-ssh/authorized_keys", input=victim)
        with configured(project, site="~/.hard-ssh/authorized_keys"):
            p = project.es("flip", "b")
            assert p.returncode != 0, p.stdout + p.stderr
            assert "[nginx] site ~/.hard-ssh/authorized_keys exists and essay did not write it" \
                in p.stderr, p.stderr
            assert rig.sh(rig.lb, "cat ~/.hard-ssh/authorized_keys").stdout == victim
            assert rig.sh(rig.lb, "ls -A ~/.hard-ssh").stdout.split() == ["authorized_keys"]
        with configured(project):
            shadowed_version_is_not_started(rig, project, version)
    finally:
        rig.sh(rig.lb, "rm -rf ~/.hard-ssh", check=False)
        shutdown(rig)


def shadowed_version_is_not_started(rig, project, version):
    """Colour b's venv reports another version than the one asked (a .pth put there out
    of band puts a demo 0.0.0 first on its path): the deploy installs with the real pip,
    reads the version back, exits 4 naming both, and restarts nothing."""
    ctl = f"{PREFIX}/b/bin/supervisorctl -c {PREFIX}/b/etc/supervisord.conf"

    def pids(h):   # supervisord's and its programs'
        return rig.sh(h, f"{ctl} pid; {ctl} pid all").stdout.split()

    before = {}
    for h in rig.web:
        shadow = "~/hard-shadow/demo-0.0.0.dist-info"
        rig.sh(h, f"mkdir -p {shadow} && printf 'Metadata-Version: 2.1\\nName: demo\\n"
                  f"Version: 0.0.0\\n' > {shadow}/METADATA && "
                  f"site=$({PREFIX}/b/bin/python -c 'import sysconfig; "
                  "print(sysconfig.get_path(\"purelib\"))') && "
                  "echo \"import sys; sys.path.insert(0, '$HOME/hard-shadow')\" "
                  "> \"$site/zz_hard_shadow.pth\"")
        before[h] = pids(h)
        assert len(before[h]) == 3 and all(p.isdigit() for p in before[h]), before[h]
    try:
        p = project.es("deploy", version, "--color", "b")
        assert p.returncode == 1, p.stdout + p.stderr
        out = p.stdout + p.stderr
        assert f"installed demo is '0.0.0', not {version}: not starting it" in out, out
        assert "exit 4" in out, out
        for h in rig.web:
            assert pids(h) == before[h], h                     # nothing (re)started
            assert json.loads(rig.http_get(h, PORTS[1], "/health")[1])["version"] == version
    finally:
        for h in rig.web:
            rig.sh(h, f"rm -rf ~/hard-shadow {PREFIX}/b/lib/python3*/site-packages/"
                      "zz_hard_shadow.pth", check=False)


def test_status_fails_when_a_host_or_the_lb_cannot_be_read(rig, project, version):
    ghost = f"{rig.subnet}.99"
    with configured(project, web=[*rig.web, ghost]):
        p = project.es("status")
        assert p.returncode == 1, p.stdout + p.stderr
        assert re.search(rf"^{re.escape(ghost)}\s+-\s+-\s+-\s+-\s+unreachable$", p.stdout, re.M), p.stdout
        assert f"{ghost}: {ghost}" not in p.stderr
        assert re.search(rf"warning: {re.escape(ghost)}: (cannot connect|timed out)", p.stderr)
        assert "1 host(s) unreadable" in p.stderr and "es: failed:" in p.stderr
    toml = rig.essay_toml("demo", index_url=project.index_url).replace(
        f'lb = ["{rig.lb}"]', f'lb = ["{ghost}"]')
    (project.path / "essay.toml").write_text(toml + "\n[ssh]\nconnect_timeout = 3\n")
    try:
        p = project.es("status")
        assert p.returncode == 1, p.stdout + p.stderr
        assert f"{ghost}: cannot read the live colour:" in p.stderr
        assert f"{ghost}: {ghost}" not in p.stderr
        assert "live colour: unknown" in p.stderr
    finally:
        project.write_config()
