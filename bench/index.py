"""The index under many clients at once: ``python3 bench/index.py [--clients 100]``.

On loopback only (127.0.0.1): a project whose package directory holds ``demo``'s wheels
(files of 300 kB named as wheels, about the size of gunicorn's), served three ways:

1. ``es pypi serve`` with ``[index] threads = 4`` and ``connection_limit = 100`` (what
   ``--server auto`` gave before), every request to pypiserver;
2. ``es pypi serve`` with the defaults (32 threads, 1000 connections), every request to it;
3. the defaults behind nginx (the site ``es pypi nginx-conf`` prints): wheels from disk.

Each row: ``--clients`` threads start together and each, ``--rounds`` times, GETs the
simple page, the wheel and the simple page again (tests/index_load.py). It prints
requests, failures (the clients' count), wall time, request times (p50, p99, max) and
the CPU time the ``es pypi serve`` process spent on them (/proc) as a Markdown table, and exits 0; it never fails on a number. Needs root for nginx's
``user root`` (its workers read the temporary package directory).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests")]

from index_load import CLIENT  # noqa: E402
from rig_nginx import MAIN_CONF, NGINX  # noqa: E402
from rig_project import free_port, wait_port  # noqa: E402

ES = [sys.executable, "-m", "essay"]


def project(d: Path, port: int, index: str) -> Path:
    path = d / "proj"
    (path / "packages").mkdir(parents=True, exist_ok=True)
    for v in range(1, 6):
        (path / "packages" / f"demo-1.0.{v}-py3-none-any.whl").write_bytes(os.urandom(300_000))
    (path / "essay.toml").write_text(f'[project]\nname = "demo"\n[index]\nurl = '
                                     f'"http://127.0.0.1:{port}/simple/"\npackages_dir = '
                                     f'"packages"\n{index}')
    return path


def load(port: int, direct: int, clients: int, rounds: int) -> dict:
    p = subprocess.run([sys.executable, "-I", "-c", CLIENT, "127.0.0.1", str(port),
                        str(direct), "/simple/demo/", str(clients), str(rounds)],
                       capture_output=True, text=True, timeout=300)
    return json.loads(p.stdout)


def cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def row(name, r, clients, rounds, index_cpu):
    n = 3 * clients * rounds
    ms = lambda s: f"{s * 1000:.0f}" if s is not None else "-"   # noqa: E731
    return (f"| {name} | {n} | {n - r['ok']} | {r['elapsed']:.2f} | {ms(r['p50'])} | "
            f"{ms(r['p99'])} | {ms(r['slowest'])} | {index_cpu:.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, index, behind in (
                ("pypiserver, 4 threads, 100 connections (before)",
                 "threads = 4\nconnection_limit = 100\n", False),
                ("pypiserver, 32 threads, 1000 connections (now)", "", False),
                ("nginx in front (es pypi nginx-conf), 32 threads", "", True)):
            port, backend = free_port(), free_port()
            path = project(d, port, index)
            server = subprocess.Popen([*ES, "pypi", "serve", "--port", str(backend)],
                                      cwd=path, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            nginx = None
            try:
                wait_port("127.0.0.1", backend)
                if behind:
                    site = subprocess.run([*ES, "pypi", "nginx-conf", "--listen",
                                           f"127.0.0.1:{port}", "--backend",
                                           f"127.0.0.1:{backend}"], cwd=path, check=True,
                                          capture_output=True, text=True).stdout
                    n = d / "nginx"
                    for sub in ("conf.d", "tmp"):
                        (n / sub).mkdir(parents=True, exist_ok=True)
                    (n / "conf.d" / "index.conf").write_text(site)
                    (n / "nginx.conf").write_text("user root;\n" + MAIN_CONF.format(d=n))
                    nginx = [NGINX, "-c", f"{n}/nginx.conf", "-p", f"{n}/", "-e",
                             f"{n}/error.log"]
                    subprocess.run(nginx, check=True)
                    wait_port("127.0.0.1", port)
                front = port if behind else backend
                load(front, backend, 10, 1)                      # warm up
                before = cpu(server.pid)
                r = load(front, backend, a.clients, a.rounds)
                rows.append(row(name, r, a.clients, a.rounds, cpu(server.pid) - before))
            finally:
                if nginx:
                    subprocess.run([*nginx, "-s", "stop"], check=False)
                server.terminate()
                server.wait(10)
    print(f"{a.clients} clients at once, {a.rounds} rounds of (simple page, a 300 kB wheel, "
          "simple page), on loopback\n")
    print("| index | requests | failed | wall s | p50 ms | p99 ms | max ms | pypiserver CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
