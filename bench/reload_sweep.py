"""Deploys that reload gunicorn, swept over the gaps, under load through 2 lbs --
``python3 bench/reload_sweep.py [--gaps 0.5,1,2,3,5,10] [--lbs 1|2]``.

Starts its own rig (2 web hosts, 2 lbs; needs root), a project with its own pypiserver,
and runs wrk through both lbs (tests/traffic_mix.py: keep-alive GETs, keep-alive POSTs
with a body, 3 s and 8 s requests). tests/traffic_mix.py's ``reload_chain`` with each gap
G twice (once into each colour): flip away from the live colour X while its slow
requests are in flight, deploy a new version into X 0.2 s later (only the app changed: a
reload, its old workers draining), wait G; the next flip goes to X. The CI test runs the
same chain once over 0.5, 1, 3 and 10 s. Prints wrk's own counts per lb and kind and the
bad lines of each nginx error.log. Never fails on a number.

Rig tag and subnet: ESSAY_RIG_TAG + "r" and the subnet after ESSAY_RIG_SUBNET's + 4.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE)]

from rig import Rig  # noqa: E402
from rig_project import running_project  # noqa: E402
from traffic_mix import (Load, MixResult, bad_log_lines, error_log_size,  # noqa: E402
                         reload_chain)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gaps", default="0.5,1,2,3,5,10")
    ap.add_argument("--lbs", type=int, default=2, choices=(1, 2), help="lb hosts (default 2)")
    args = ap.parse_args(argv)
    gaps = [float(g) for g in args.gaps.split(",")]
    a, b, c = os.environ.get("ESSAY_RIG_SUBNET", "10.200.0").split(".")
    tag, subnet = os.environ.get("ESSAY_RIG_TAG", "es") + "r", f"{a}.{b}.{int(c) + 4}"
    with tempfile.TemporaryDirectory(prefix="essay-sweep-") as work, \
            Rig(n_web=2, n_lb=args.lbs, tag=tag, subnet=subnet) as rig, \
            running_project(rig, Path(work)) as proj:

        def es(*a):
            return proj.es(*a, check=True)

        versions = [proj.build(), proj.build(), proj.build()]
        es("deploy", versions[0], "--color", "a")
        es("deploy", versions[1], "--color", "b")
        es("flip", "a")
        marks = {lb: error_log_size(rig, lb) for lb in rig.lbs}
        load = Load({lb: f"http://{rig.address(lb)}:8080" for lb in rig.lbs},
                    seconds=3600).start()
        done, t0 = [], time.monotonic()

        def op(args, gap):
            es(*args)
            done.append((args, gap, round(time.monotonic() - t0, 1)))
            print(f"{time.monotonic() - t0:6.1f}s es {' '.join(args)}; next in {gap}s",
                  flush=True)
            time.sleep(gap)

        try:
            time.sleep(3)
            reload_chain(op, "a", {"a": versions[0], "b": versions[1]}, versions,
                         [g for g in gaps for _ in range(2)])
            time.sleep(9)
        finally:
            counts = load.stop()
        result = MixResult(counts, {lb: bad_log_lines(rig, lb, marks[lb]) for lb in rig.lbs},
                           done, time.monotonic() - t0)
        print(f"\nreload sweep, gaps {gaps}:\n{result.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
