"""essay.health.owners: who holds a colour's ports, from /proc (fast; no rig).

The test process listens on a port; asking whether that port is held by a process of
"supervisord" = this process (or its parent) says yes; of another pid, no -- naming us."""
import os
import socket
import subprocess
import sys

from essay import health


def run_owners(sup_pid, ports):
    text = health.owners(sys.executable, str(sup_pid), "a", ports)
    return subprocess.run(["bash", "-c", text], capture_output=True, text=True)


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
        p = run_owners('""', [s.getsockname()[1]])   # what an empty "$(...)" gives
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
