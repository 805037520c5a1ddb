"""``es server`` against ``es``, side by side on one rig: ``python3 bench/bench_server.py``.

* the environments page (GET /) against ``es status`` (both one round trip per host);
* a rollback as a server job (submit -> done, through the API) against ``es rollback``;
* queue latency of the embedded queue (job queued -> started).

Starts its own rig (2 web hosts + lb; tag ``$ESSAY_RIG_TAG`` + "b", the next /24 after
``$ESSAY_RIG_SUBNET``) and a project with its own pypiserver. Prints a Markdown table of
medians and ratios; never fails on a number.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE)]

from rig import Rig  # noqa: E402
from rig_project import running_project  # noqa: E402
from server_util import Browser, Server, add_user  # noqa: E402


def rig_args():
    tag = os.environ.get("ESSAY_RIG_TAG", "es") + "b"
    a, b, c = os.environ.get("ESSAY_RIG_SUBNET", "10.205.0").split(".")
    return {"tag": tag, "subnet": f"{a}.{int(b) + 1}.{c}"}


def wall(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(rounds: int = 5) -> int:
    with tempfile.TemporaryDirectory(prefix="essay-bench-server-") as work, \
            Rig(n_web=2, **rig_args()) as rig, running_project(rig, Path(work)) as proj:
        es = lambda *a: proj.es(*a, check=True)  # noqa: E731
        v = proj.build()
        es("deploy", v, "--color", "a")
        es("deploy", v, "--color", "b")
        es("flip", "a")
        es("flip", "b")
        token = es("server", "token", "add", "bench", "--role", "admin").stdout.strip()
        server = Server(proj.path, proj.env())
        api = Browser(server.url)
        head = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            status_s = [wall(lambda: es("status")) for _ in range(rounds)]
            add_user(proj.path, proj.env(), "viewer", "viewer")
            b = Browser(server.url)
            b.login("viewer", "correct horse")
            page_s = [wall(lambda: b.get("/")) for _ in range(rounds)]
            cli_s, job_s, latency = [], [], []
            for _ in range(rounds):
                cli_s.append(wall(lambda: es("rollback")))

                def by_job():
                    _, out, _ = api.request("/api/jobs", json.dumps(
                        {"kind": "rollback", "env": ""}).encode(), head)
                    job = json.loads(out)["job"]
                    while True:
                        j = json.loads(api.request(f"/api/jobs/{job}", None, head)[1])
                        if j["state"] not in ("queued", "running"):
                            assert j["state"] == "done", j
                            latency.append(j["started"] - j["created"])
                            return
                        time.sleep(0.02)
                job_s.append(wall(by_job))
        finally:
            server.stop()
        med = statistics.median
        rows = [
            ("environments page (GET /) / `es status`, s",
             f"{med(page_s):.2f} / {med(status_s):.2f}", f"{med(page_s) / med(status_s):.2f}"),
            ("rollback as a job (submit → done) / `es rollback`, s",
             f"{med(job_s):.2f} / {med(cli_s):.2f}", f"{med(job_s) / med(cli_s):.2f}"),
            ("embedded queue latency (queued → started), s", f"{med(latency):.3f}", ""),
        ]
    print(f"\n| measure ({rounds} rounds, medians) | value | ratio |\n|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
