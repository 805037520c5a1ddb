"""essay/deploy/supervise.py: the deploy's one process that asks a colour's supervisord
(pid; update + restart) -- against a real supervisord (no rig), run the way a deploy runs
it: ``python -I -S -c TEXT CONF MODE``."""
import os
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path
from types import SimpleNamespace

import pytest

from essay.deploy.commands import SUPERVISE

PROGRAM = """
[program:{name}]
command = {python} -c "import time; time.sleep(1000)"
autostart = {autostart}
startsecs = 1
stopwaitsecs = 5
"""


def conf_text(d: Path, web=("web-0", "web-1"), workers=("worker-mail",), extra="",
              serverurl="unix://{d}/supervisor.sock"):
    text = f"""
[unix_http_server]
file = {d}/supervisor.sock
chmod = 0700

[supervisord]
logfile = {d}/supervisord.log
pidfile = {d}/supervisord.pid
directory = {d}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = {serverurl.format(d=d)}
"""
    for name in web:
        text += PROGRAM.format(name=name, python=sys.executable, autostart="true")
    for name in workers:
        text += PROGRAM.format(name=name, python=sys.executable, autostart="false")
    return text + extra


def supervise(conf, *args):
    return subprocess.run([sys.executable, "-I", "-S", "-c", SUPERVISE, str(conf), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def sup(tmp_path):
    """A running supervisord of two web programs and a worker; stopped after."""
    conf = tmp_path / "supervisord.conf"
    conf.write_text(conf_text(tmp_path))
    subprocess.run(["supervisord", "-c", str(conf)], check=True)
    rpc = xmlrpc.client.ServerProxy(
        "http://localhost", transport=_unix(str(tmp_path / "supervisor.sock")))
    deadline = time.monotonic() + 20
    while True:
        try:
            if all(i["statename"] == "RUNNING" for i in rpc.supervisor.getAllProcessInfo()
                   if i["name"].startswith("web-")):
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "supervisord did not start"
        time.sleep(0.1)
    yield conf, rpc
    try:
        rpc.supervisor.shutdown()
    except OSError:
        pass


def _unix(path):
    ns = {}
    exec(SUPERVISE.split("def expand(")[0], ns)   # its UnixTransport, as the program has it
    return ns["UnixTransport"](path, 10)


def states(rpc):
    return {i["name"]: (i["statename"], i["pid"], i["start"])
            for i in rpc.supervisor.getAllProcessInfo()}


def test_pid_and_restart_say_7_when_supervisord_does_not_answer(tmp_path):
    conf = tmp_path / "supervisord.conf"
    conf.write_text(conf_text(tmp_path))
    assert supervise(conf, "pid").returncode == 7
    assert supervise(conf, "restart").returncode == 7


def test_pid_is_supervisords(sup):
    conf, rpc = sup
    p = supervise(conf, "pid")
    assert p.returncode == 0 and p.stdout.strip() == str(rpc.supervisor.getPID())
    assert p.stdout.strip() == (conf.parent / "supervisord.pid").read_text().strip()


def test_restart_restarts_the_web_programs_at_once_and_leaves_workers_alone(sup):
    conf, rpc = sup
    before = states(rpc)
    p = supervise(conf, "restart")
    assert p.returncode == 0, p.stdout + p.stderr
    after = states(rpc)
    for name in ("web-0", "web-1"):
        assert after[name][0] == "RUNNING" and after[name][1] != before[name][1]
        assert f"{name}: stopped" in p.stdout and f"{name}: started" in p.stdout
    assert after["worker-mail"][0] == "STOPPED" and "worker-mail" not in p.stdout
    p = supervise(conf, "restart", "--workers")                # the live colour's deploy
    assert p.returncode == 0 and states(rpc)["worker-mail"][0] == "RUNNING", p.stdout


def test_restart_applies_a_changed_configuration_like_supervisorctl_update(sup):
    conf, rpc = sup
    conf.write_text(conf_text(conf.parent, web=("web-0", "web-2")))
    p = supervise(conf, "restart")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "web-1: removed process group" in p.stdout
    assert "web-2: added process group" in p.stdout
    now = states(rpc)
    assert "web-1" not in now and now["web-2"][0] == now["web-0"][0] == "RUNNING"


def test_a_program_that_does_not_start_is_named_and_exits_1(sup):
    conf, rpc = sup
    broken = "\n[program:web-9]\ncommand = /bin/false\nstartsecs = 1\nstartretries = 0\n"
    conf.write_text(conf_text(conf.parent, extra=broken))
    p = supervise(conf, "restart")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "web-9: ERROR (" in p.stdout and "web-0: started" in p.stdout


def test_a_configuration_supervisord_refuses_is_one_line_and_exits_1(sup):
    conf, rpc = sup
    conf.write_text(conf.read_text() + "\n[program:bad]\n")     # no command
    p = supervise(conf, "restart")
    assert p.returncode == 1 and p.stdout.startswith("supervisord: "), p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    assert states(rpc)["web-0"][0] == "RUNNING"                 # nothing was stopped


def test_here_expands_and_an_unreadable_conf_is_exit_2(sup, tmp_path):
    conf, rpc = sup
    conf.write_text(conf_text(tmp_path, serverurl="unix://%(here)s/supervisor.sock"))
    p = supervise(conf, "pid")
    assert p.returncode == 0 and p.stdout.strip() == str(rpc.supervisor.getPID())
    p = supervise(tmp_path / "nope.conf", "pid")
    assert p.returncode == 2 and "cannot read" in p.stdout
    conf.write_text(conf_text(tmp_path, serverurl="tcp://x"))
    p = supervise(conf, "pid")
    assert p.returncode == 2 and "neither unix:// nor http://" in p.stdout
    conf.write_text(conf_text(tmp_path, serverurl="unix://%(nowhere)s/s.sock"))
    p = supervise(conf, "pid")
    assert p.returncode == 2 and "cannot expand it" in p.stdout and not p.stderr, p


def test_an_http_server_with_a_password(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "supervisord.conf"
    text = conf_text(tmp_path, workers=(), serverurl=f"http://127.0.0.1:{port}")
    conf.write_text(text.replace("[supervisorctl]\n", "[supervisorctl]\nusername = ada\n"
                                 "password = s3cret\n")
                    + f"\n[inet_http_server]\nport = 127.0.0.1:{port}\nusername = ada\n"
                      "password = s3cret\n")
    subprocess.run(["supervisord", "-c", str(conf)], check=True)
    try:
        deadline = time.monotonic() + 20
        while (p := supervise(conf, "pid")).returncode == 7 and time.monotonic() < deadline:
            time.sleep(0.1)
        pid = (tmp_path / "supervisord.pid").read_text().strip()
        assert p.returncode == 0 and p.stdout.strip() == pid, p.stdout + p.stderr
        assert supervise(conf, "restart").returncode == 0
        conf.write_text(conf.read_text().replace("password = s3cret\n", "password = wrong\n", 1))
        p = supervise(conf, "pid")
        assert p.returncode == 2 and "401" in p.stdout and "Traceback" not in p.stderr, p
    finally:
        os.kill(int((tmp_path / "supervisord.pid").read_text()), 15)


def test_status_and_the_workers_modes(sup, tmp_path):
    conf, rpc = sup
    p = supervise(conf, "status")
    assert p.returncode == 0 and p.stdout.split() == [
        "web-0=RUNNING", "web-1=RUNNING", "worker-mail=STOPPED"], p.stdout
    web = states(rpc)["web-0"][1]
    p = supervise(conf, "start-workers")
    assert p.returncode == 0 and p.stdout.strip() == "worker-mail: started", p.stdout
    assert states(rpc)["worker-mail"][0] == "RUNNING" and states(rpc)["web-0"][1] == web
    assert supervise(conf, "start-workers").returncode == 0    # already running: still ok
    p = supervise(conf, "stop-workers")
    assert p.returncode == 0 and states(rpc)["worker-mail"][0] == "STOPPED", p.stdout
    assert states(rpc)["web-0"][:2] == ("RUNNING", web)       # the web programs untouched
    conf.write_text(conf_text(conf.parent, workers=()))
    assert supervise(conf, "restart").returncode == 0           # applies it: no worker left
    assert supervise(conf, "start-workers").returncode == 5
    assert supervise(conf, "stop-workers").returncode == 5
    rpc.supervisor.shutdown()
    deadline = time.monotonic() + 20   # until it has gone (while it stops: a fault, exit 1)
    while (p := supervise(conf, "status")).returncode != 7 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert p.returncode == 7
    assert supervise(conf, "start-workers").returncode == 7
