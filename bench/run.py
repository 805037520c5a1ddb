"""The whole performance table, measured side by side in one run: ``python3 bench/run.py``.

Starts its own rig (16 web hosts + lb, network namespaces, real sshd and nginx; needs
root), a project with its own pypiserver, and measures:

* SSH round trips per web host per deploy, fresh and warm (sshd's own log);
* round trips per lb host per flip and per rollback;
* ``es rollback`` wall time against a bare OpenSSH ``ssh lb true`` and ``ssh lb <reload>``;
* deploy to 1 host against 16 hosts (install cached), and client CPU per host;
* ``es build --no-upload`` against ``python -m build`` (bench/bench_build.py);
* the install step with uv against pip (fresh colour, warm caches);
* a deploy with ``[deploy] release`` (three phases) against one without (one script).

Every figure is a ratio or a count of two things measured in this run. It never fails on
a number: it prints the table (Markdown) and exits 0. ``--quick`` does fewer rounds.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE)]

from rig import Rig  # noqa: E402
from rig_project import running_project  # noqa: E402


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of child processes) for fn()."""
    c0, t0 = os.times(), time.perf_counter()
    fn()
    c1, t1 = os.times(), time.perf_counter()
    return t1 - t0, (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)


def median_of(rounds: int, fn) -> float:
    return statistics.median(timed(fn)[0] for _ in range(rounds))


def set_deploy(proj, **values):
    """Rewrite ``key = value`` lines of the project's essay.toml (and commit)."""
    path = proj.path / "essay.toml"
    text = path.read_text()
    for key, value in values.items():
        line = f"{key} = {value!r}".replace("'", '"') if isinstance(value, str) else \
            f"{key} = {value}"
        text, n = re.subn(rf"^{key} = .*$", line, text, flags=re.M)
        if not n:
            text = text.replace("[deploy]\n", f"[deploy]\n{line}\n")
    path.write_text(text)
    proj.git("commit", "-qam", "bench config", "--allow-empty")


def set_web(proj, hosts):
    path = proj.path / "essay.toml"
    text = re.sub(r"^web = .*$", "web = [" + ", ".join(f'"{h}"' for h in hosts) + "]",
                  path.read_text(), flags=re.M)
    path.write_text(text)
    proj.git("commit", "-qam", "bench hosts", "--allow-empty")


def ensure_uv_on_hosts():
    """uv where the rig's host users find it (their PATH has /usr/local/bin)."""
    if shutil.which("uv", path="/usr/bin:/bin:/usr/local/bin"):
        return True
    try:
        import uv
        shutil.copy(uv.find_uv_bin(), "/usr/local/bin/uv")
        return True
    except Exception:  # noqa: BLE001
        return False


def main(quick: bool = False) -> int:
    rounds = 3 if quick else 5
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="essay-bench-") as work, \
            Rig(n_web=16, tag="eb", subnet="10.205.0") as rig, \
            running_project(rig, Path(work)) as proj:
        es = lambda *a: proj.es(*a, check=True)  # noqa: E731
        v1 = proj.build()

        # -- round trips per web host per deploy, fresh and warm --------------------------
        set_web(proj, ["web1"])
        for h in ("web1", "lb"):
            rig.mark(h)
        es("deploy", v1, "--color", "a")
        fresh, lb_deploy = rig.channels("web1"), rig.channels("lb")
        rig.mark("web1")
        es("deploy", v1, "--color", "a", "--force")
        warm = rig.channels("web1")
        rt = lambda c: c["exec"] + c["sftp"] + c["shell"]  # noqa: E731
        rows.append(("SSH round trips per web host per deploy (fresh / warm)",
                     f"{rt(fresh)} / {rt(warm)}", "goal ≤ 2; essay 0.0.8: 26 / 17–20"))
        rows.append(("SSH round trips per lb host per deploy (lock + record)",
                     f"{rt(lb_deploy)}", "the lock and the history"))

        # -- flip and rollback: round trips and wall time against bare ssh ----------------
        es("deploy", v1, "--color", "b")
        es("flip", "a")
        rig.mark("lb")
        es("flip", "b")
        flip_rt = rt(rig.channels("lb"))
        rig.mark("lb")
        es("rollback")
        rb_rt = rt(rig.channels("lb"))
        rows.append(("SSH round trips per lb host per flip / rollback", f"{flip_rt} / {rb_rt}",
                     "goal 1; essay 0.0.8: 4"))
        ssh = lambda *cmd: subprocess.run(rig.ssh_argv("lb", *cmd), check=True,  # noqa: E731
                                          capture_output=True)
        walls = {"rollback": [], "true": [], "reload": []}
        for _ in range(rounds):
            walls["rollback"].append(timed(lambda: es("rollback"))[0])
            walls["true"].append(timed(lambda: ssh("true"))[0])
            walls["reload"].append(timed(lambda: ssh(rig.nginx_reload))[0])
        med = {k: statistics.median(v) for k, v in walls.items()}
        rows.append(("`es rollback` / bare `ssh lb true` (wall)",
                     f"{med['rollback'] / med['true']:.2f}×",
                     f"goal ≤ 1.5×; {med['rollback'] * 1000:.0f} ms vs {med['true'] * 1000:.0f} ms"))
        rows.append(("`es rollback` / bare `ssh lb nginx -s reload` (wall)",
                     f"{med['rollback'] / med['reload']:.2f}×",
                     f"essay 0.0.8's switch: 3.8×; reload {med['reload'] * 1000:.0f} ms"))

        # -- deploy to 1 host against 16 (install cached), client CPU per host ------------
        set_web(proj, rig.web)
        es("deploy", v1, "--color", "a", "--force")  # every host warm
        one, many, cpu16 = [], [], []
        for _ in range(max(2, rounds - 2)):
            set_web(proj, ["web1"])
            one.append(timed(lambda: es("deploy", v1, "--color", "a", "--force"))[0])
            set_web(proj, rig.web)
            wall, cpu = timed(lambda: es("deploy", v1, "--color", "a", "--force"))
            many.append(wall)
            cpu16.append(cpu)
        n = len(rig.web)
        rows.append((f"deploy to {n} hosts / to 1 host (wall, warm)",
                     f"{statistics.median(many) / statistics.median(one):.2f}×",
                     f"goal ≤ 2.0×; {statistics.median(one):.1f} s vs {statistics.median(many):.1f} s"))
        rows.append(("client CPU per host per deploy",
                     f"{statistics.median(cpu16) / n * 1000:.0f} ms",
                     f"goal ≤ 30 ms; whole es process over {n} hosts"))

        # -- [deploy] release: three phases (install, release once, start) against one ----
        one_phase, three = [], []
        for _ in range(max(2, rounds - 2)):
            set_deploy(proj, release="")
            one_phase.append(timed(lambda: es("deploy", v1, "--color", "a", "--force"))[0])
            set_deploy(proj, release="true")
            three.append(timed(lambda: es("deploy", v1, "--color", "a", "--force"))[0])
        set_deploy(proj, release="")
        rows.append((f"deploy to {n} hosts with `[deploy] release` / without (wall, warm)",
                     f"{statistics.median(three) / statistics.median(one_phase):.2f}×",
                     f"one more round trip per host, one release; {statistics.median(three):.1f}"
                     f" s vs {statistics.median(one_phase):.1f} s"))

        # -- uv against pip: fresh colour directory, caches warm --------------------------
        set_web(proj, ["web1"])
        if ensure_uv_on_hosts():
            t = {"pip": [], "uv": []}
            for i in range(max(2, rounds - 2)):
                for installer in ("pip", "uv"):
                    set_deploy(proj, installer=installer, prefix=f"~/bench-{installer}-{i}")
                    t[installer].append(timed(
                        lambda: es("deploy", v1, "--color", "a", "--force"))[0])
            set_deploy(proj, installer="pip", prefix="~/demo")
            rows.append(("deploy into a fresh colour: uv / pip (wall)",
                         f"{statistics.median(t['uv']) / statistics.median(t['pip']):.2f}×",
                         f"{statistics.median(t['uv']):.1f} s vs {statistics.median(t['pip']):.1f} s"))
        else:
            rows.append(("deploy into a fresh colour: uv / pip", "n/a", "uv not installable"))

    # -- es build against python -m build ---------------------------------------------------
    try:
        import bench_build

        b = bench_build.run()
        med = b.get("median_s", {})
        note = (f"goal ≤ 1.2×; {med['es build']:.1f} s vs {med['python -m build']:.1f} s"
                if "ratio" in b else b.get("error", "not measured"))
        if "ratio_vs_uv" in b:
            note += f"; against `python -m build --installer uv`: {b['ratio_vs_uv']:.2f}×"
        rows.append(("`es build --no-upload` / `python -m build`",
                     f"{b['ratio']:.2f}×" if "ratio" in b else "n/a", note))
    except Exception as e:  # noqa: BLE001 -- a bench never fails the run
        rows.append(("`es build --no-upload` / `python -m build`", "n/a", f"failed: {e}"))

    print(f"\nMachine: {platform.node()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}\n")
    print("| measure | result | note |\n|---|---|---|")
    for measure, result, note in rows:
        print(f"| {measure} | {result} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(quick="--quick" in sys.argv))
