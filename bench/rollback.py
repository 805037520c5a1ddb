"""``es rollback`` against a bare ``ssh lb true``, idle and under load, with two lbs:
``python3 bench/rollback.py [--rounds N]``.

Starts its own rig (2 web hosts, 2 lbs; needs root) and project, deploys two versions,
then measures the median wall time of ``es rollback`` (every safety check included:
health of the target with its recorded version on every web host, from each lb; nginx
follows the marker) and of OpenSSH's ``ssh -F cfg lb true``, first idle, then while
tests/traffic_mix.py's load runs through both lbs. Prints both ratios side by side (the
goals: 1.5× idle, 3× under load). Never fails on a number.

``es rollback`` reaches the lbs with OpenSSH and keeps each lb's connection for
``[ssh] control_persist`` (300 s): a rollback soon after a flip is a session on it. The
"cold" row closes those connections before each rollback (a rollback more than five
minutes after the last command). The last column is the bare ``ssh`` with the classic
``curve25519-sha256`` key exchange instead of OpenSSH 9's default post-quantum one
(``sntrup761x25519``, ~0.1 s of client CPU per connection here): a stricter baseline.

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

from essay.remote import openssh  # noqa: E402


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

        def ssh(*opts):
            subprocess.run(rig.ssh_argv("lb", *opts, "true"), check=True, capture_output=True)

        def close_kept():
            for lb in rig.lbs:
                subprocess.run(rig.ssh_argv(lb, "-o", f"ControlPath={control}/%C", "-O", "exit"),
                               capture_output=True, env=proj.env())

        def cold_rollback():
            close_kept()
            return wall(lambda: es("rollback"))

        control = openssh.control_dir()
        curve = ("-o", "KexAlgorithms=curve25519-sha256")
        for label, load, cold in (("idle", None, False), ("idle, cold", None, True),
                                  ("under load", {lb: f"http://{rig.address(lb)}:8080"
                                                  for lb in rig.lbs}, False)):
            running = Load(load, seconds=3600).start() if load else None
            try:
                time.sleep(3 if load else 0)
                es("status")   # the kept connections (if any) exist before the first round
                rb = statistics.median(cold_rollback() if cold else wall(lambda: es("rollback"))
                                       for _ in range(args.rounds))
                bare = statistics.median(wall(ssh) for _ in range(args.rounds))
                bare_c = statistics.median(wall(lambda: ssh(*curve)) for _ in range(args.rounds))
            finally:
                if running:
                    running.stop()
            rows.append((label, rb, bare, bare_c))
    print("\n| 2 lbs | `es rollback` | `ssh lb true` | ratio | goal | `ssh` with curve25519 | "
          "ratio to it |\n|---|---|---|---|---|---|---|")
    for (label, rb, bare, bare_c), goal in zip(rows, ("≤ 1.5×", "(≤ 1.5×)", "≤ 3×")):
        print(f"| {label} | {rb * 1000:.0f} ms | {bare * 1000:.0f} ms | {rb / bare:.2f}× | {goal} "
              f"| {bare_c * 1000:.0f} ms | {rb / bare_c:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
