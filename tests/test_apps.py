"""The application keys on the real rig: the release phase (once per deploy, on one host,
before anything restarts; a failing one changes nothing), and workers running only in
the live colour (a heartbeat file with its colour).

Shares the session project with test_deploy/test_flip: every test makes the state it
needs, and puts essay.toml back after."""

import pytest

import re

from test_deploy import (PORTS, WEB, colour_state, configured, es, ensure, marked, serving,
                         shutdown)

pytestmark = [pytest.mark.rig, pytest.mark.slow]

# what the release command records: where, which version is being released, and what
# colour a's first process answers at that moment (the old version: nothing restarted)
RELEASE = ("release = \"echo $ESSAY_HOST $ESSAY_VERSION $(python -c 'import json, urllib."
           "request as u; print(json.load(u.urlopen(\\\"http://127.0.0.1:8800/health\\\"))"
           "[\\\"version\\\"])' 2>/dev/null || echo none) >> ~/release.log\"\n")


@pytest.fixture(scope="module", autouse=True)
def leave_b_live(project):
    """Other modules deploy into colour a without --force: leave b live, as after a flip."""
    yield
    project.es("flip", "b")


@pytest.fixture(scope="module")
def versions(project):
    """Two versions on the index."""
    return project.build(), project.build()


def release_log(rig):
    return {h: rig.sh(h, "cat ~/release.log 2>/dev/null; rm -f ~/release.log",
                      check=False).stdout.split("\n")[:-1] for h in WEB}


def test_release_runs_once_on_the_first_host_before_anything_restarts(rig, project,
                                                                       versions):
    v1, v2 = versions
    ensure(rig, project, "a", v1)
    release_log(rig)
    with configured(project, deploy=RELEASE):
        marked(rig)
        p = es(project, "deploy", v2, "--color", "a", "--force")
        channels = {h: rig.channels(h) for h in WEB}
    assert release_log(rig) == {"web1": [f"web1 {v2} {v1}"], "web2": []}
    assert "release command ran on web1" in p.stdout + p.stderr
    assert serving(rig, "a") == {v2}
    # one round trip per host per phase: install, start; the release on web1 only
    assert channels["web1"]["exec"] == 3 and channels["web2"]["exec"] == 2, channels


def test_a_failing_release_leaves_both_colours_as_they_were(rig, project, versions):
    v1, v2 = versions
    ensure(rig, project, "a", v1)
    ensure(rig, project, "b", v2)
    before = {c: colour_state(rig, c) for c in "ab"}
    with configured(project, deploy='release = "echo migrating; exit 7"\n'):
        p = es(project, "deploy", v2, "--color", "a", "--force", ok=False)
    assert "the release command failed on web1" in p.stdout + p.stderr
    assert "nothing was restarted on any host" in p.stdout + p.stderr
    assert "migrating" in p.stdout + p.stderr
    assert {c: colour_state(rig, c) for c in "ab"} == before
    assert serving(rig, "a") == {v1}


WORKER = ('\n[workers]\nbeat = "while :; do echo $ESSAY_COLOR $ESSAY_VERSION '
          '> ~/heartbeat-$ESSAY_COLOR.tmp; mv ~/heartbeat-$ESSAY_COLOR.tmp '
          '~/heartbeat-$ESSAY_COLOR; sleep 0.2; done"\n')


def fresh(rig, host):
    """Colours whose heartbeat file is being rewritten on ``host``: its full-precision
    mtime changes within one second (a running worker writes every 0.2 s; a stopped one
    never again). Whole-second mtimes made "changed in the last second" ambiguous."""
    out = rig.sh(host, "snap() { for c in a b; do echo $c $(stat -c %y ~/heartbeat-$c "
                       "2>/dev/null); done; }; one=$(snap); sleep 1; two=$(snap); "
                       "diff <(echo \"$one\") <(echo \"$two\") | awk '/^>/ {print $2}'; "
                       "true").stdout.split()
    return set(out)


def test_workers_run_only_in_the_live_colour(rig, project, versions):
    v1, v2 = versions
    es(project, "deploy", v1, "--color", "a", "--force")   # before [workers] was set:
    ensure(rig, project, "b", v2)                           # no worker program
    with configured(project, extra=WORKER):
        es(project, "flip", "b", ok=None)      # whatever was live: start from a known state
        p = es(project, "flip", "a", ok=False)  # traffic moves; no worker to start: said so
        out = p.stdout + p.stderr
        assert "traffic is on a, but its workers did not all move" in out, out
        assert "colour a's supervisord.conf has no worker-* program" in out, out
        assert "workers: started" not in out, out
        for color, v in zip("ab", versions):
            es(project, "deploy", v, "--color", color, "--force")
        es(project, "flip", "b")
        es(project, "flip", "a")               # workers follow: a started, b stopped
        assert {h: fresh(rig, h) for h in WEB} == {h: {"a"} for h in WEB}
        es(project, "flip", "b")
        assert {h: fresh(rig, h) for h in WEB} == {h: {"b"} for h in WEB}
        beat = rig.sh("web1", "cat ~/heartbeat-b").stdout.split()
        assert beat == ["b", v2]
        status = es(project, "status").stdout
        assert "worker-beat" in status or "workers" in status, status
        es(project, "rollback")                # the reverse
        assert {h: fresh(rig, h) for h in WEB} == {h: {"a"} for h in WEB}
        # a deploy into the idle colour does not start its workers
        es(project, "deploy", v2, "--color", "b")
        assert {h: fresh(rig, h) for h in WEB} == {h: {"a"} for h in WEB}
    for color in "ab":    # the workers are gone with the key: stop what runs
        es(project, "supervisor", "stop", "worker-beat", "--color", color, ok=None)
    assert PORTS


BEAT_ONLY = ('\n[workers]\nbeat = "while :; do echo $ESSAY_COLOR $BEAT_TOKEN > '
             '~/heartbeat-$ESSAY_COLOR.tmp; mv ~/heartbeat-$ESSAY_COLOR.tmp '
             '~/heartbeat-$ESSAY_COLOR; sleep 0.2; done"\n')


def test_workers_on_a_worker_only_host(rig, project, versions):
    """[roles] worker = ["web2"], web = ["web1"]: the deploy gives web2 the workers and no
    web process, web1 the web processes and no worker; after the flip the worker runs on
    web2 only, in the live colour, and sees a secret set with es secrets set; es status
    shows web2 and its worker. Its own prefix and ports: the session's colours stay."""
    v1, _ = versions
    import subprocess

    prefix, color = "~/demo-w", None
    for h in WEB:
        rig.sh(h, "rm -f ~/heartbeat-a ~/heartbeat-b")
    try:
        with configured(project, extra=BEAT_ONLY, prefix=prefix, ports=(8820, 8830),
                        roles='web = ["web1"]\nworker = ["web2"]\n',
                        state_dir="~/demo-w-state"):
            p = subprocess.run(project.es_argv("secrets", "set", "BEAT_TOKEN"), text=True,
                               input="tok-42\n", capture_output=True, cwd=project.path,
                               env=project.env(), timeout=120)
            assert p.returncode == 0 and "on 2 host(s)" in p.stderr + p.stdout, p
            p = es(project, "deploy", v1)            # into the idle colour
            color = re.search(r"into colour (\w+)", p.stdout + p.stderr).group(1)
            assert rig.sh("web2", f"grep -c '^\\[program:' {prefix}/{color}/etc/"
                                  "supervisord.conf").stdout.strip() == "1"
            es(project, "flip", color)
            assert {h: fresh(rig, h) for h in WEB} == {"web1": set(), "web2": {color}}
            assert rig.sh("web2", f"cat ~/heartbeat-{color}").stdout.split() == \
                [color, "tok-42"]
            status = es(project, "status").stdout
            assert re.search(rf"^web2\s+{color}\s+{re.escape(v1)}\s+live\s+worker-beat "
                             r"RUNNING\s+-\s+- \(workers only\)", status, re.M), status
            assert re.search(rf"^web1\s+{color}\s+{re.escape(v1)}\s+live\s+2/2 running\s",
                             status, re.M), status
    finally:
        shutdown(rig, prefix)
        rig.sh(rig.lb, "rm -rf ~/demo-w-state", check=False)
        if color:   # the session's site file again (its live colour and state were not touched)
            es(project, "nginx", "apply", ok=None)


def test_sync_asked_the_first_web_host_for_its_python_and_platform(rig, project):
    """The session project's `es pypi sync` (tests/rig_project.py) resolved for what
    web1's python3 said, not for this machine."""
    said = rig.sh("web1", "/usr/bin/python3 -c 'import platform, sysconfig; print("
                          "platform.python_version(), sysconfig.get_platform(), "
                          "*platform.libc_ver())'").stdout.split()
    out = project.synced.stdout + project.synced.stderr
    assert f"for Python {said[0]} (web1's /usr/bin/python3; platform {said[1]} {said[2]} " \
           f"{said[3]} (web1's /usr/bin/python3))" in out, out


def test_es_run_in_a_colour_passes_the_exit_status_through(rig, project, versions):
    v1, v2 = versions
    ensure(rig, project, "a", v1)
    ensure(rig, project, "b", v2)
    marked(rig, WEB)
    p = project.es("run", "--color", "a", "--", "sh", "-c",
                   "echo $ESSAY_COLOR $ESSAY_VERSION $ESSAY_HOST; echo oops >&2; exit 3")
    assert p.returncode == 3, p
    assert p.stdout.strip() == f"a {v1} web1" and "oops" in p.stderr
    assert rig.channels("web1")["exec"] == 1 and sum(rig.channels("web2").values()) == 0
    p = project.es("run", "--color", "b", "--host", "web2", "--", "python", "-c",
                   "import sys; print(sys.prefix)")
    assert p.returncode == 0 and p.stdout.strip().endswith("/demo/b"), p
    p = project.es("run", "--color", "a", "--", "python", "-c", "print('it''s; $HOME')")
    assert p.stdout.strip() == "its; $HOME", p     # argv, not shell: nothing expanded
    # the default colour is the live one
    es(project, "flip", "b")
    assert project.es("run", "--", "sh", "-c", "echo $ESSAY_COLOR").stdout.strip() == "b"
    # bad input: refused before any round trip, one line
    p = project.es("run", "--color", "c", "--", "true")
    assert p.returncode != 0 and "unknown colour 'c'" in p.stderr
    p = project.es("run", "--host", "nowhere", "--", "true")
    assert p.returncode != 0 and "not a web or worker host" in p.stderr


def test_es_run_gets_a_terminal_when_es_has_one(rig, project, versions):
    import fcntl
    import os
    import subprocess
    import termios

    ensure(rig, project, "a", versions[0])
    main, sub = os.openpty()
    try:
        def controlling_terminal():   # what a login shell gives es: the pty is its tty
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        proc = subprocess.run(project.es_argv("run", "--color", "a", "--", "sh", "-c",
                                              "tty; exit 4"),
                              cwd=project.path, env=project.env(), stdin=sub, stdout=sub,
                              stderr=subprocess.PIPE, timeout=60,
                              preexec_fn=controlling_terminal)
        os.close(sub)
        out = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(main)
    assert proc.returncode == 4, proc.stderr
    assert b"/dev/pts/" in out, out
    p = project.es("run", "--color", "a", "--", "sh", "-c", "tty || true")
    assert "not a tty" in p.stdout
