"""Soak: issue 9's load mix for a long time -- ``python3 bench/soak.py [--minutes 15]
[--ops 200] [--old-conf]``.

Starts its own rig (2 web hosts, 2 lbs; needs root), a project with its own pypiserver,
deploys two versions, and runs tests/traffic_mix.py: wrk through both lbs (keep-alive
GETs, keep-alive POSTs with a body, 3 s requests) while flips and rollbacks run with gaps
of 0.5 to 3 s, a canary and a deploy into the just-idle colour; at least ``--ops``
operations and ``--minutes`` minutes. Prints wrk's own counts per lb and kind and the bad
lines of each nginx error.log. Never fails on a number.

``--old-conf`` deploys with the templates essay shipped before the keep-alive rule
(bench/old_conf/: gunicorn keep-alive 2 s, nginx upstream keepalive_timeout 60 s,
max_fails=1): the failure issue 9 reports, reproduced.

Rig tag and subnet: ESSAY_RIG_TAG + "s" and the subnet after ESSAY_RIG_SUBNET's + 2
(default es/10.200.0 -> ess/10.202.0).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE)]

from rig import Rig  # noqa: E402
from rig_project import running_project  # noqa: E402
from traffic_mix import run_mix  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=15)
    ap.add_argument("--ops", type=int, default=200, help="at least this many operations")
    ap.add_argument("--old-conf", action="store_true",
                    help="deploy with the pre-fix templates in bench/old_conf/")
    args = ap.parse_args(argv)
    a, b, c = os.environ.get("ESSAY_RIG_SUBNET", "10.200.0").split(".")
    tag, subnet = os.environ.get("ESSAY_RIG_TAG", "es") + "s", f"{a}.{b}.{int(c) + 2}"
    with tempfile.TemporaryDirectory(prefix="essay-soak-") as work, \
            Rig(n_web=2, n_lb=2, tag=tag, subnet=subnet) as rig, \
            running_project(rig, Path(work)) as proj:
        if args.old_conf:
            for f in ("nginx.conf.j2", "supervisord.conf.j2"):
                shutil.copy(HERE / "old_conf" / f, proj.path / "conf" / f)
            proj.git("commit", "-qam", "the old templates", "--allow-empty")

        def es(*a):
            return proj.es(*a, check=True)

        versions = proj.build(), proj.build(), proj.build()
        es("deploy", versions[0], "--color", "a")
        es("deploy", versions[1], "--color", "b")
        es("flip", "a")
        t = time.monotonic()
        # ~2.75 s per flip/rollback pair on the rig: enough pairs for --ops, then more
        # pairs until --minutes have passed
        result = run_mix(rig, es, versions, min_seconds=args.minutes * 60,
                         n_pairs=max(10, args.ops // 2))
        print(f"\nsoak{' (old templates)' if args.old_conf else ''}: "
              f"{time.monotonic() - t:.0f}s\n{result.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
