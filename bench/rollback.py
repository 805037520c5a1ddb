"""``es rollback`` against a bare ``ssh lb true``, idle and under load, with two lbs:
``python3 bench/rollback.py [--rounds N]``.

Starts its own rig (2 web hosts, 2 lbs; needs root) and project, deploys two versions,
then measures the median wall time of ``es rollback`` (every safety check included:
health of the target with its recorded version on every web host, from each lb; nginx
follows the marker) and of OpenSSH's ``ssh -F cfg lb true``, first idle, then while
tests/traffic_mix.py's load runs through both lbs. Prints both ratios side by side (the
goals: 1.5× idle, 3× under load). Never fails on a number.

Rig tag and subnet: ESSAY_RIG_TAG + "r" and the subnet after ESSAY_RIG_SUBNET's + 3.
"""
from __future__ import annotations

import argparse
import os
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
from traffic_mix import Load  # noqa: E402


def wall(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    a, b, c = os.environ.get("ESSAY_RIG_SUBNET", "10.200.0").split(".")
    tag, subnet = os.environ.get("ESSAY_RIG_TAG", "es") + "r", f"{a}.{b}.{int(c) + 3}"
    rows = []
    with tempfile.TemporaryDirectory(prefix="essay-rb-") as work, \
            Rig(n_web=2, n_lb=2, tag=tag, subnet=subnet) as rig, \
            running_project(rig, Path(work)) as proj:
        def es(*a):
            return proj.es(*a, check=True)

        es("deploy", proj.build(), "--color", "a")
        es("deploy", proj.build(), "--color", "b")
        es("flip", "a")
        es("flip", "b")

        def ssh():
            subprocess.run(rig.ssh_argv("lb", "true"), check=True, capture_output=True)

        for label, load in (("idle", None),
                            ("under load", {lb: f"http://{rig.address(lb)}:8080"
                                            for lb in rig.lbs})):
            running = Load(load, seconds=3600).start() if load else None
            try:
                time.sleep(3 if load else 0)
                rb = statistics.median(wall(lambda: es("rollback")) for _ in range(args.rounds))
                bare = statistics.median(wall(ssh) for _ in range(args.rounds))
            finally:
                if running:
                    running.stop()
            rows.append((label, rb, bare))
    print("\n| 2 lbs | `es rollback` | `ssh lb true` | ratio | goal |\n|---|---|---|---|---|")
    for (label, rb, bare), goal in zip(rows, ("≤ 1.5×", "≤ 3×")):
        print(f"| {label} | {rb * 1000:.0f} ms | {bare * 1000:.0f} ms | {rb / bare:.2f}× | {goal} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
