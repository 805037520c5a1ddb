"""The executor on the rig: real sshd hosts, in parallel, one round trip per script."""
import os
import subprocess

import pytest

from essay.output import Reporter
from essay.remote.executor import Executor
from essay.remote.script import Script, Step
from essay.remote.shell import q

pytestmark = pytest.mark.rig


@pytest.fixture(params=["paramiko", "openssh"])
def transport(request):
    """The executor's options for each transport: paramiko (Fabric), or the OpenSSH client
    with its kept connection (essay/remote/openssh.py; the lbs' default)."""
    return {"openssh_hosts": request.param == "openssh" or ()}


def _whoami():
    return Script("who", (Step("who", 'essay_data user "$(id -un)"; essay_data home "$HOME"\n'
                                      'essay_data addr "$(ip -4 -o addr show scope global | '
                                      "awk '{print $4}' | cut -d/ -f1 | head -n1)\""),))


def test_every_host_answers_as_itself_in_parallel(rig_home, transport):
    rig = rig_home
    for h in rig.hosts:
        rig.mark(h)
    with Executor(Reporter(quiet=True), **transport) as ex:
        results = ex.run({h: _whoami() for h in rig.hosts})
    for h in rig.hosts:
        r = results[h]
        assert r.ok, r.error
        assert r.value("user") == rig.user(h)
        assert r.value("home") == rig.home_of(h)
        assert r.value("addr") == rig.address(h)
        assert rig.channels(h)["exec"] == 1 and rig.channels(h)["sftp"] == 0
        assert ex.channels[h] == 1


def test_steps_stop_at_the_first_failure_and_name_it(rig_home, transport):
    script = Script("t", (Step("one", "echo first"), Step("two", "echo broken >&2; exit 7"),
                          Step("three", "touch ~/never")))
    with Executor(Reporter(quiet=True), **transport) as ex:
        r = ex.run({"web1": script})["web1"]
    assert not r.ok and r.failed_step.name == "two" and r.failed_step.rc == 7
    assert "two failed (exit 7)" in r.error and "broken" in r.error
    assert [s.name for s in r.steps] == ["one", "two"]
    assert subprocess.run(["test", "-e", f"{rig_home.home_of('web1')}/never"]).returncode == 1


def test_values_reach_the_host_exactly(rig_home, transport):
    nasty = "it's $(touch /tmp/pwned) `id` ; rm -rf ~ \" \\ * \n end"
    script = Script("q", (Step("echo", f"essay_data got {q(nasty.replace(chr(10), ' '))}"),),
                    env=(("ESSAY_X", nasty),))
    with Executor(Reporter(quiet=True), **transport) as ex:
        r = ex.run({"web2": script})["web2"]
    assert r.ok and r.value("got") == nasty.replace("\n", " ")
    assert not os.path.exists("/tmp/pwned")


def test_unknown_host_key_is_refused_by_default(rig_home, tmp_path, transport):
    """(A kept OpenSSH connection, made before the key went, is not asked again: OpenSSH's
    own rule. This test keeps none.)"""
    rig = rig_home
    transport = dict(transport, control_persist=0)
    known = rig.known_hosts
    saved = open(known).read()
    try:
        open(known, "w").write("".join(l for l in saved.splitlines(True)
                                       if rig.address("web1") not in l and "web1" not in l))
        with Executor(Reporter(quiet=True), **transport) as ex:
            r = ex.run({"web1": _whoami()})["web1"]
        assert not r.ok and "not in known_hosts" in r.error and r.error.startswith("web1:")
        assert "\n" not in r.error
        with Executor(Reporter(quiet=True), accept_new_host_keys=True, **transport) as ex:
            assert ex.run({"web1": _whoami()})["web1"].ok
        assert rig.address("web1") in open(known).read()  # saved, like accept-new
    finally:
        open(known, "w").write(saved)


def test_unreachable_host_is_a_one_line_error(rig_home, transport):
    with Executor(Reporter(quiet=True), connect_timeout=2, **transport) as ex:
        results = ex.run({"web1": _whoami(), "nobody@10.255.255.1": _whoami()})
    assert results["web1"].ok
    bad = results["nobody@10.255.255.1"]
    assert not bad.ok and bad.error.startswith("nobody@10.255.255.1:")
    assert "\n" not in bad.error, bad.error


def test_openssh_keeps_the_connection_for_the_next_command(rig_home):
    """Two executors one after the other (two es commands): with [ssh] control_persist the
    second opens a session on the first one's connection -- no new login, one exec
    channel; with 0, a login each."""
    rig = rig_home
    with Executor(Reporter(quiet=True), openssh_hosts=True) as ex:
        assert ex.run({"lb": _whoami()})["lb"].ok
    rig.mark("lb")
    with Executor(Reporter(quiet=True), openssh_hosts=True) as ex:
        r = ex.run({"lb": _whoami()})["lb"]
    assert r.ok and r.value("user") == rig.user("lb")
    assert rig.connections("lb") == 0 and rig.channels("lb")["exec"] == 1
    rig.mark("lb")
    for _ in range(2):
        with Executor(Reporter(quiet=True), openssh_hosts=True, control_persist=0) as ex:
            assert ex.run({"lb": _whoami()})["lb"].ok
    assert rig.connections("lb") == 2 and rig.channels("lb")["exec"] == 2


def test_dry_run_prints_and_runs_nothing(rig_home, capsys):
    rig = rig_home
    rig.mark("web1")
    script = Script("t", (Step("touch", "touch ~/dry"),))
    with Executor(Reporter(), dry_run=True) as ex:
        r = ex.run({"web1": script})["web1"]
    assert r.ok and r.dry_run
    out = capsys.readouterr().out
    assert "### web1: would run" in out and "touch ~/dry" in out
    assert rig.channels("web1")["exec"] == 0
    assert not os.path.exists(f"{rig.home_of('web1')}/dry")


def test_local_host_runs_the_same_script_without_ssh():
    with Executor(Reporter(quiet=True)) as ex:
        r = ex.run({"local": _whoami()})["local"]
    assert r.ok and r.value("home") == os.path.expanduser("~")


def test_openssh_connect_soon_is_the_session_the_script_then_runs_in(rig_home, monkeypatch):
    """A command starts its lbs' sessions while it is still being built (``connect_soon``):
    the script then runs in that session -- cold, one login and one exec channel; warm (a
    kept connection), no login and one exec channel; never a shell."""
    import tempfile

    rig = rig_home
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="es", dir="/tmp"))  # cold
    for kept in (0, 1):
        rig.mark("lb")
        with Executor(Reporter(quiet=True), openssh_hosts=True) as ex:
            ex.connect_soon(["lb"])
            r = ex.run({"lb": _whoami()})["lb"]
        assert r.ok and r.value("user") == rig.user("lb")
        assert rig.connections("lb") == 1 - kept
        assert rig.channels("lb") == {"exec": 1, "shell": 0, "sftp": 0}


def test_openssh_connect_soon_to_a_silent_host_fails_once(monkeypatch):
    """The early connection's failure is the command's: one line, after one timeout, not
    a second wait by the script's own ssh. (The host: a local port that accepts TCP and
    never says a word: ssh gives up at ConnectTimeout, during the banner exchange.)"""
    import socket
    import tempfile
    import time

    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="es", dir="/tmp"))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        gone = f"nobody@127.0.0.1:{silent.getsockname()[1]}"
        with Executor(Reporter(quiet=True), openssh_hosts=True, connect_timeout=2) as ex:
            start = time.monotonic()
            ex.connect_soon([gone])
            r = ex.run({gone: _whoami()})[gone]
            took = time.monotonic() - start
    assert not r.ok and r.error.startswith(gone + ":") and "\n" not in r.error, r.error
    assert "timed out" in r.error, r.error
    assert took < 3.5, took   # one ConnectTimeout (2 s), not two


def test_sessions_started_but_never_used_end_with_the_command(rig_home):
    """A command that failed before its script reached the host (es server runs many in
    one process): the session started for it is ended, not left open on the lb."""
    from essay.remote import openssh

    with Executor(Reporter(quiet=True), openssh_hosts=True) as ex:
        ex.connect_soon(["lb", "lb"])
    procs = [proc for _, proc in openssh._early.values()]
    assert len(procs) == 1
    openssh.discard_early()
    assert openssh._early == {} and procs[0].returncode is not None
