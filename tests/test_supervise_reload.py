"""essay/deploy/supervise.py ``restart --reload-app NAME``: a gunicorn master reloaded
(SIGHUP) instead of restarted cold, and only when that is safe -- against a real
supervisord running a real gunicorn through essay-exec, in a colour laid out as a deploy
lays it out ({prefix}/secrets.env, {colour}/etc/essay.env, {colour}/gunicorn.conf.py).

The app answers ``ESSAY_VERSION SECRET PID``: the version and the secret come from the
worker's environment, so a reloaded worker that kept the master's (an earlier deploy's)
environment shows."""
import base64
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import xmlrpc.client
from pathlib import Path
from types import SimpleNamespace

import pytest

from essay.deploy.commands import SUPERVISE
from essay.secrets import host
from test_supervise import _unix, conf_text, states

APP = """
import os, time
def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        open("slow.started", "w").close()
        time.sleep(2)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s %s %s" % (os.environ.get("ESSAY_VERSION", "-"), os.environ.get("SECRET", "-"),
                           os.getpid())).encode()]
"""
HOUR_AGO = time.time() - 3600


def env_file(path: Path, values: dict, when=None):
    path.write_text("".join(f"{k}={base64.b64encode(v.encode()).decode()}\n"
                            for k, v in values.items()))
    if when:
        os.utime(path, (when, when))


def get(port, path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        version, secret, pid = r.read().decode().split()
    return version, secret, int(pid)


def answers(port, version, deadline=30):
    """(version, secret, worker pid) once ``version`` answers."""
    end = time.monotonic() + deadline
    while True:
        try:
            got = get(port)
            if got[0] == version:
                return got
        except OSError:
            got = None
        assert time.monotonic() < end, f"port {port} answers {got}, not {version}"
        time.sleep(0.1)


@pytest.fixture
def colour(tmp_path):
    """{tmp}/blue: a venv (every dist-info in it dated an hour back), essay-exec, essay's
    gunicorn.conf.py and etc/essay.env (ESSAY_VERSION=1), {tmp}/secrets.env (SECRET=s1),
    and a supervisord running gunicorn (web-0) through essay-exec in the colour's
    directory, and a plain program (web-1)."""
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    assert gunicorn, "gunicorn is in the test extra (setup.py)"
    d = tmp_path / "blue"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(d)], check=True)
    site = Path(subprocess.run([d / "bin/python", "-c", "import sysconfig; print("
                                "sysconfig.get_path('purelib'))"], capture_output=True,
                               text=True, check=True).stdout.strip())
    (site / "demoapp-1.dist-info").mkdir(parents=True)
    for p in site.iterdir():
        os.utime(p, (HOUR_AGO, HOUR_AGO))
    for sub in ("etc", "run", "logs"):
        (d / sub).mkdir(exist_ok=True)
    (d / "bin/essay-exec").write_text(host.wrapper_text())
    (d / "bin/essay-exec").chmod(0o755)
    (d / "gunicorn.conf.py").write_text(host.gunicorn_hook_text())
    os.utime(d / "gunicorn.conf.py", (HOUR_AGO, HOUR_AGO))
    (d / "app.py").write_text(APP)
    env_file(d / "etc/essay.env", {"ESSAY_VERSION": "1"})
    env_file(tmp_path / "secrets.env", {"SECRET": "s1"}, when=HOUR_AGO)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    extra = (f"\n[program:web-0]\ncommand = {d}/bin/essay-exec {sys.executable} {gunicorn} "
             f"--bind 127.0.0.1:{port} --worker-class gthread --threads 2 app:app\n"
             f"directory = {d}\nstartsecs = 1\nstopwaitsecs = 10\nstopasgroup = true\n"
             "killasgroup = true\n")
    conf = d / "etc/supervisord.conf"
    conf.write_text(conf_text(d / "run", web=("web-1",), workers=(), extra=extra))
    subprocess.run(["supervisord", "-c", str(conf)], check=True)
    rpc = xmlrpc.client.ServerProxy("http://localhost",
                                    transport=_unix(str(d / "run/supervisor.sock")))
    try:
        assert answers(port, "1")[1] == "s1"
        end = time.monotonic() + 30       # and supervisord calls both RUNNING (startsecs)
        while {i["statename"] for i in rpc.supervisor.getAllProcessInfo()} != {"RUNNING"}:
            assert time.monotonic() < end, states(rpc)
            time.sleep(0.1)
        yield SimpleNamespace(dir=d, site=site, conf=conf, rpc=rpc, port=port,
                              secrets=tmp_path / "secrets.env")
    finally:
        try:
            rpc.supervisor.shutdown()
        except OSError:
            pass


def deploy(c, version, *dists):
    """What a deploy changes before its start step: essay.env, and dist-infos installed now."""
    env_file(c.dir / "etc/essay.env", {"ESSAY_VERSION": version})
    for name in dists:
        (c.site / name).mkdir()


def restart(c, *args):
    p = subprocess.run([c.dir / "bin/python", "-I", "-S", "-c", SUPERVISE, str(c.conf),
                        "restart", *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_only_the_app_changed_reloads_and_the_new_workers_see_the_new_environment(colour):
    c = colour
    master, (_, _, worker) = states(c.rpc)["web-0"][1], get(c.port)
    plain = states(c.rpc)["web-1"][1]
    deploy(c, "2", "demoapp-2.dist-info")
    out = restart(c, "--reload-app", "demoapp")
    assert "web-0: reloaded (SIGHUP" in out and "web-1: a cold restart (not gunicorn)" in out
    # the master kept ESSAY_VERSION=1; its new workers read 2 (gunicorn.conf.py's hook),
    # and when the restart returns no old worker is left to answer
    version, secret, new_worker = get(c.port)
    assert version == "2" and {get(c.port)[0] for _ in range(20)} == {"2"}
    assert (secret, states(c.rpc)["web-0"][1]) == ("s1", master) and new_worker != worker
    assert states(c.rpc)["web-1"][1] != plain


def test_a_secret_changed_since_the_master_started_means_a_cold_restart(colour):
    c = colour
    master = states(c.rpc)["web-0"][1]
    env_file(c.secrets, {"OTHER": "x"})           # SECRET removed: no hook can unset it
    deploy(c, "3", "demoapp-3.dist-info")
    out = restart(c, "--reload-app", "demoapp")
    assert "web-0: a cold restart (the secrets changed since it started)" in out, out
    assert answers(c.port, "3")[1] == "-" and states(c.rpc)["web-0"][1] != master


def test_a_dependency_installed_since_the_master_started_means_a_cold_restart(colour):
    c = colour
    master = states(c.rpc)["web-0"][1]
    deploy(c, "3", "demoapp-3.dist-info", "gunicorn-99.0.dist-info")
    out = restart(c, "--reload-app", "demoapp")
    assert "web-0: a cold restart (installed since it started: gunicorn)" in out, out
    answers(c.port, "3")
    started = states(c.rpc)["web-0"]
    assert started[1] != master
    # every install dated before the new master started: the next deploy reloads it
    for name in ("demoapp-3.dist-info", "gunicorn-99.0.dist-info"):
        os.utime(c.site / name, (started[2] - 1, started[2] - 1))
    deploy(c, "4")
    assert "web-0: reloaded" in restart(c, "--reload-app", "demoapp")
    answers(c.port, "4")


def test_a_master_that_has_not_read_essays_hook_restarts_cold(colour):
    """gunicorn.conf.py newer than the master (the first deploy of an essay that writes
    it): the master has not read it, its workers would not read the environment."""
    c = colour
    master = states(c.rpc)["web-0"][1]
    os.utime(c.dir / "gunicorn.conf.py")
    deploy(c, "5", "demoapp-5.dist-info")
    out = restart(c, "--reload-app", "demoapp")
    assert "web-0: a cold restart (started without essay's gunicorn.conf.py)" in out, out
    answers(c.port, "5")
    assert states(c.rpc)["web-0"][1] != master


def test_without_reload_app_every_web_program_restarts_cold(colour):
    c = colour
    master = states(c.rpc)["web-0"][1]
    deploy(c, "6")
    out = restart(c)
    assert "reloaded" not in out, out
    answers(c.port, "6")
    assert states(c.rpc)["web-0"][1] != master


def test_a_reload_returns_when_the_old_workers_have_finished_their_requests(colour):
    """An old worker in a slow request (2 s) finishes it (200, the old version); the
    restart returns only after it has exited: from then on only new workers answer."""
    c = colour
    slow = []
    t = threading.Thread(target=lambda: slow.append((get(c.port, "/slow"), time.monotonic())))
    t.start()
    end = time.monotonic() + 10
    while not (c.dir / "slow.started").exists():     # the old worker is in the request
        assert time.monotonic() < end
        time.sleep(0.02)
    deploy(c, "7", "demoapp-7.dist-info")
    assert "web-0: reloaded (SIGHUP" in restart(c, "--reload-app", "demoapp")
    returned = time.monotonic()
    t.join(10)
    (version, _, _), answered = slow[0]
    assert version == "1" and returned > answered, (version, returned - answered)
    assert {get(c.port)[0] for _ in range(20)} == {"7"}
