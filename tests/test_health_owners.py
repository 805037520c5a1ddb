"""essay/health/owners.py: who holds a colour's ports, from /proc (fast; no rig).

The test process listens on a port; asking whether that port is held by a process of
"supervisord" = this process (or its parent) says yes; of another pid, no -- naming us."""
import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest

from essay import health


#: owners.py on its own: argv sup-pid port...
OWNERS = health.program("owners.py", main="import sys\nsup = sys.argv[1]\nsys.exit(0 if owners("
                        "int(sup) if sup.isdigit() else None, 'a', [int(p) for p in "
                        "sys.argv[2:]]) else 3)")


def run_owners(sup_pid, ports):
    return subprocess.run([sys.executable, "-I", "-S", "-c", OWNERS, str(sup_pid),
                           *map(str, ports)], capture_output=True, text=True)


def listening():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_a_port_held_by_the_colours_own_process_tree_is_ok():
    with listening() as s:
        port = s.getsockname()[1]
        for sup in (os.getpid(), os.getppid()):
            p = run_owners(sup, [port])
            assert p.returncode == 0, p.stdout + p.stderr
            assert f"port {port}: served by colour a's processes" in p.stdout


def test_a_port_held_by_another_process_is_named_with_its_command_line():
    with listening() as s:
        port = s.getsockname()[1]
        p = run_owners(999999999, [port])
    assert p.returncode == 3
    assert f"port {port}: held by pid {os.getpid()} (" in p.stdout
    assert "pytest" in p.stdout or "python" in p.stdout
    assert "not by colour a's supervisord (pid 999999999)" in p.stdout
    assert f"::essay:: data foreign_port {port} pid {os.getpid()}" in p.stdout


def test_a_port_nobody_listens_on_is_not_ok():
    with listening() as s:
        port = s.getsockname()[1]
    p = run_owners(os.getpid(), [port])
    assert p.returncode == 3 and f"port {port}: held by nobody" in p.stdout


def test_no_supervisord_pid_is_not_ok():
    with listening() as s:
        p = run_owners("", [s.getsockname()[1]])
    assert p.returncode == 3 and "supervisord (pid None)" in p.stdout


def test_a_port_held_by_a_grandchild_is_found_in_the_colours_own_tree():
    """supervisord -> gunicorn master -> worker: the walk down the tree
    (/proc/PID/task/TID/children) finds it without reading every process's fds."""
    code = ("import socket, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import socket, time\\n"
            "s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen()\\n"
            "print(s.getsockname()[1], flush=True); time.sleep(60)'])\n"
            "child.wait()\n")
    mid = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        port = int(mid.stdout.readline())
        p = run_owners(os.getpid(), [port])
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"port {port}: served by colour a's processes" in p.stdout
    finally:
        subprocess.run(["pkill", "-P", str(mid.pid)])
        mid.kill()
        mid.wait()


# --- the deploy's health step finds the colour's supervisord by its configuration file ---

def fake_supervisord(tmp_path, pidfile=True):
    """A process run as ``python …/bin/supervisord -c …/etc/supervisord.conf`` (as the deploy
    starts the real one), whose child serves ``/health`` with version 1.0 on a port.
    Returns (process, conf, port)."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "etc").mkdir()
    conf = tmp_path / "etc" / "supervisord.conf"
    conf.write_text("[unix_http_server]\nfile = %(here)s/sock\n[supervisord]\n"
                    + ("pidfile = %(here)s/../run.pid ; a comment\n" if pidfile else "")
                    + "logfile = x.log\n")
    (tmp_path / "app.py").write_text(
        "import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers()\n"
        "        self.wfile.write(b'{\"version\": \"1.0\"}')\n"
        "    def log_message(self, *a): pass\n"
        "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
        "print(s.server_address[1], flush=True); s.serve_forever()\n")
    script = tmp_path / "bin" / "supervisord"
    script.write_text("import os, subprocess, sys\n"
                      f"open({str(tmp_path / 'run.pid')!r}, 'w').write(str(os.getpid()))\n"
                      f"subprocess.Popen([sys.executable, {str(tmp_path / 'app.py')!r}]).wait()\n")
    proc = subprocess.Popen([sys.executable, str(script), "-c", str(conf)],
                            stdout=subprocess.PIPE, text=True)
    return proc, conf, int(proc.stdout.readline())


def stop(proc):
    subprocess.run(["pkill", "-P", str(proc.pid)])
    proc.kill()
    proc.wait()


def deployed(tmp_path, ports, version=""):
    cfg = SimpleNamespace(color_dir=lambda c: str(tmp_path), health_host="",
                          health_path="/health", ports={"a": ports})
    text = health.deployed(cfg, "a", 0, version).replace(f"{tmp_path}/bin/python",
                                                          sys.executable, 1)
    return subprocess.run(["bash", "-c", text], capture_output=True, text=True)


@pytest.mark.parametrize("pidfile", [True, False], ids=["pidfile", "proc-scan"])
def test_supervisord_is_found_by_its_conf_with_or_without_a_pidfile(tmp_path, pidfile):
    proc, conf, port = fake_supervisord(tmp_path, pidfile=pidfile)
    try:
        code = health.program("owners.py", main=f"print(supervisord_of({str(conf)!r}))")
        p = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                           text=True)
        assert p.stdout.strip() == str(proc.pid), p.stdout + p.stderr
        other = subprocess.run([sys.executable, "-I", "-S", "-c", code.replace(
            str(conf), str(tmp_path / "other.conf"))], capture_output=True, text=True)
        assert other.stdout.strip() == "None"
    finally:
        stop(proc)


def test_a_stale_pidfile_naming_another_process_is_not_believed(tmp_path):
    proc, conf, port = fake_supervisord(tmp_path)
    try:
        (tmp_path / "run.pid").write_text(str(os.getpid()))   # pytest: not a supervisord
        code = health.program("owners.py", main=f"print(supervisord_of({str(conf)!r}))")
        p = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                           text=True)
        assert p.stdout.strip() == str(proc.pid)
    finally:
        stop(proc)


def test_the_deploy_check_fails_naming_who_holds_a_port_that_answers(tmp_path):
    """The colour's supervisord runs, but the port the check asks is another process's
    (this test's, which does not answer HTTP): the check fails, then says who holds it."""
    proc, conf, port = fake_supervisord(tmp_path)
    try:
        with listening() as s:
            other = s.getsockname()[1]
            p = deployed(tmp_path, [other])
        assert p.returncode == 3, p.stdout + p.stderr
        out = p.stdout
        assert out.index("UNHEALTHY") < out.index("--- who holds the ports")
        assert f"port {other}: held by pid {os.getpid()} (" in out
        assert f"not by colour a's supervisord (pid {proc.pid})" in out
    finally:
        stop(proc)


def test_the_deploy_check_names_a_missing_supervisord(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "supervisord.conf").write_text("[supervisord]\n")
    with listening() as s:
        p = deployed(tmp_path, [s.getsockname()[1]])
    assert p.returncode == 3 and "supervisord (pid None)" in p.stdout


def test_the_deploy_check_passes_when_the_colours_own_child_answers(tmp_path):
    proc, conf, port = fake_supervisord(tmp_path)
    try:
        p = deployed(tmp_path, [port], "1.0")
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"healthy   http://127.0.0.1:{port}/health  version 1.0" in p.stdout
        assert f"port {port}: served by colour a's processes (supervisord pid {proc.pid})" \
            in p.stdout
        assert "--- who holds" not in p.stdout
        wrong = deployed(tmp_path, [port], "2.0")
        assert wrong.returncode == 3 and "expected 2.0" in wrong.stdout
    finally:
        stop(proc)
