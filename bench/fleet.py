"""The fleet benchmark: curves, not a point. ``python3 bench/fleet.py [--sizes 1,10,50,100]``

Starts one rig with the largest size of web hosts and 2 lbs (network namespaces with real
sshd and nginx, on this machine; needs root), a project with its own pypiserver, and for
each N deploys to the first N web hosts under a fresh prefix:

1. first deploy into colour a (virtualenvs created), flip to a;
2. first deploy into colour b;
3. the rollout: a new version into b and the flip to it, with wrk through the lb flat out;
4. with ``--load-rate R``, a second rollout (a third version into a, the flip to it) with
   wrk at about R requests a second: on this rig the load shares the hosts' 2 cores, and
   wrk flat out takes whatever the deploy leaves.

For each N it prints: rollout wall time (deploy + flip), first-deploy wall time, client
CPU per host (whole ``es`` process / N, and the marginal cost of a host: the CPU above
``es`` deploying to one host), SSH channels per web host (sshd's own log), index
requests served and failed (pypiserver's log), peak client memory (the ``es`` process's
max RSS), and wrk's requests and failures during the rollout.

``--installer uv|pip`` (default uv), ``--parallel P`` (default: N, all hosts at once),
``--health-timeout S`` (default 180: 100 rig hosts start 200 gunicorns on 2 shared cores),
``--tag``/``--subnet`` for the rig (default from ESSAY_RIG_TAG/SUBNET + "b", next /24).
Wall times on a shared machine are noisy: CPU, channels and requests are not.
It never fails on a number; it prints a Markdown table and exits 0.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE)]

from rig import Rig  # noqa: E402
from rig_load import Load  # noqa: E402
from rig_project import running_project  # noqa: E402
from run import ensure_uv_on_hosts  # noqa: E402

STATUS = re.compile(r"^(\d{3}) [A-Z]", re.M)   # pypiserver -v logs each response's status


def es_measured(proj, *args, profile=None) -> dict:
    """Run ``es`` and measure that one process: wall, CPU (user + sys), max RSS.
    ``profile``: a file to write a cProfile profile to (it slows the process down)."""
    import subprocess

    argv = proj.es_argv(*args)
    if profile:   # py-spy samples every thread (cProfile sees only the main one)
        spy = Path(sys.executable).with_name("py-spy")
        argv = [str(spy if spy.exists() else "py-spy"), "record", "-r", "250", "-f", "raw",
                "-o", str(profile), "--", *argv]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, cwd=proj.path, env=proj.env(),
                                stdout=out, stderr=err, text=True)
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        res = {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024,
               "rc": proc.returncode, "stdout": out.read(), "stderr": err.read()}
    if res["rc"] != 0:
        raise RuntimeError(f"es {' '.join(args)} exited {res['rc']}:\n{res['stdout']}\n"
                           f"{res['stderr']}")
    return res


def config(proj, hosts, prefix, installer, parallel, health_timeout):
    path = proj.path / "essay.toml"
    text = re.sub(r"^web = .*$", "web = [" + ", ".join(f'"{h}"' for h in hosts) + "]",
                  path.read_text(), flags=re.M)
    text = re.sub(r"^prefix = .*$", f'prefix = "{prefix}"', text, flags=re.M)
    text = re.sub(r"^(installer|parallel|health_timeout) = .*\n", "", text, flags=re.M)
    text = text.replace("[deploy]\n", f'[deploy]\ninstaller = "{installer}"\n'
                                      f"parallel = {parallel}\n"
                                      f"health_timeout = {health_timeout}\n")
    path.write_text(text)
    proj.git("commit", "-qam", "bench fleet config", "--allow-empty")


class Index:
    """Requests the project's pypiserver served and failed, from its log."""

    def __init__(self, log: Path):
        self.log, self.at = log, 0

    def mark(self):
        self.at = self.log.stat().st_size

    def counts(self) -> tuple[int, int]:
        with open(self.log, "rb") as f:
            f.seek(self.at)
            text = f.read().decode("utf-8", "replace")
        codes = [int(c) for c in STATUS.findall(text)]
        return sum(c < 400 for c in codes), sum(c >= 400 for c in codes)


def machine_cpu() -> tuple[int, int]:
    """(busy, all) jiffies of the whole machine (/proc/stat): every rig host, wrk, nginx
    and the client share its cores."""
    with open("/proc/stat") as f:
        t = [int(x) for x in f.readline().split()[1:]]
    return sum(t) - t[3] - t[4], sum(t)    # idle, iowait


def channels(rig, hosts) -> tuple[float, int]:
    """Mean and max session channels (exec + sftp + shell) per host since rig.mark."""
    per = [sum(rig.channels(h).get(k, 0) for k in ("exec", "sftp", "shell")) for h in hosts]
    return sum(per) / len(per), max(per)


def stop_all(rig, hosts):
    """Stop every supervisord the earlier sizes started (their ports are the same)."""
    for h in hosts:
        rig.sh(h, 'for d in fleet-*/*/; do [ -x "$d/bin/supervisorctl" ] && '
                  '"$d/bin/supervisorctl" -c "$d/etc/supervisord.conf" shutdown; done; '
                  "rm -rf fleet-*", check=False)


def rollout_under_load(rig, proj, version, color, rate=None):
    """Deploy ``version`` into ``color`` and flip to it, with wrk through the lb (flat out,
    or at about ``rate`` requests a second): (deploy, flip, wall, machine CPU busy,
    (wrk requests, failed))."""
    load = Load(f"http://{rig.address(rig.lb)}:8080/", rate=rate)
    try:
        time.sleep(1)
        t0, busy0 = time.perf_counter(), machine_cpu()
        roll = es_measured(proj, "deploy", version, "--color", color)
        flip = es_measured(proj, "flip", color)
        wall, busy1 = time.perf_counter() - t0, machine_cpu()
        time.sleep(1)
    finally:
        wrk = load.stop()
    return (roll, flip, wall, (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
            (wrk["requests"], wrk["non2xx"] + wrk["socket_errors"]))


def measure(rig, proj, index, n, versions, installer, parallel, round_, profile,
            health_timeout, rate) -> dict:
    v1, v2, v3 = versions
    hosts = rig.web[:n]
    config(proj, hosts, f"~/fleet-{round_}-{n}", installer, parallel or n, health_timeout)
    for h in hosts:
        rig.mark(h)
    index.mark()
    first_a = es_measured(proj, "deploy", v1, "--color", "a", "--force")
    served_first, failed_first = index.counts()
    ch_first = channels(rig, hosts)
    es_measured(proj, "flip", "a")
    first_b = es_measured(proj, "deploy", v1, "--color", "b")
    for h in hosts:
        rig.mark(h)
    index.mark()
    roll, flip, rollout, busy, wrk = rollout_under_load(rig, proj, v2, "b")
    served, failed = index.counts()
    mean, most = channels(rig, hosts)
    if profile:
        es_measured(proj, "deploy", v2, "--color", "b", "--force",
                    profile=Path(profile) / f"deploy-{n}.txt")
    paced = rollout_under_load(rig, proj, v3, "a", rate) if rate else None
    stop_all(rig, hosts)
    return {"n": n, "rollout": rollout, "deploy": roll["wall"], "flip": flip["wall"],
            "paced": paced and {"rollout": paced[2], "deploy": paced[0]["wall"],
                                "flip": paced[1]["wall"], "busy": paced[3], "wrk": paced[4],
                                "cpu": paced[0]["cpu"]},
            "first": (first_a["wall"], first_b["wall"]),
            "cpu": roll["cpu"], "rss": max(first_a["rss_mb"], roll["rss_mb"]),
            "channels": (mean, most), "channels_first": ch_first,
            "index": (served, failed), "index_first": (served_first, failed_first),
            "wrk": wrk, "busy": busy}


def table(rows: list[dict], base_cpu: float, rate: float = 0) -> str:
    paced = (f" rollout with wrk at ~{rate:g} req/s (s) | wrk requests / failed (at "
             f"~{rate:g}/s) | machine CPU busy (at ~{rate:g}/s) | client CPU per host, whole "
             f"(at ~{rate:g}/s, ms) |") if rate else ""
    cols = 9 + (4 if rate else 0)
    out = ["| N web hosts (+2 lbs) | rollout: deploy + flip (s) | first deploy a / b (s) | "
           "client CPU per host: whole / marginal (ms) | SSH channels per web host | "
           "index requests served / failed (rollout; first deploy) | peak client RSS (MiB) | "
           "wrk requests / failed (rollout) | machine CPU busy (rollout) |" + paced,
           "|" + "---|" * cols]
    for r in rows:
        n = r["n"]
        marginal = (r["cpu"] - base_cpu) / (n - 1) * 1000 if n > 1 else float("nan")
        p = r["paced"]
        out.append(
            f"| {n} | {r['rollout']:.1f} ({r['deploy']:.1f} + {r['flip']:.1f}) | "
            f"{r['first'][0]:.1f} / {r['first'][1]:.1f} | {r['cpu'] / n * 1000:.0f} / "
            f"{marginal:.1f} | {r['channels'][0]:.2f} (max {r['channels'][1]}) | "
            f"{r['index'][0]} / {r['index'][1]}; {r['index_first'][0]} / "
            f"{r['index_first'][1]} | {r['rss']:.0f} | {r['wrk'][0]} / {r['wrk'][1]} | "
            f"{r['busy']:.0%} |" + (f" {p['rollout']:.1f} ({p['deploy']:.1f} + "
                                    f"{p['flip']:.1f}) | {p['wrk'][0]} / {p['wrk'][1]} | "
                                    f"{p['busy']:.0%} | {p['cpu'] / n * 1000:.0f} |"
                                    if p else ""))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,50,100")
    ap.add_argument("--installer", default="uv", choices=("uv", "pip"))
    ap.add_argument("--parallel", type=int, default=0, help="default: N (all at once)")
    ap.add_argument("--health-timeout", type=float, default=180.0,
                    help="[deploy] health_timeout for the runs (default 180 s: the rig's "
                         "hosts all start their processes on the client's cores at once)")
    ap.add_argument("--load-rate", type=float, default=0, metavar="R",
                    help="also a second rollout (a new version into a, the flip to it) "
                         "with wrk at ~R requests a second instead of flat out")
    ap.add_argument("--profile", metavar="DIR", help="also profile a redeploy per size "
                    "(py-spy, folded stacks: DIR/deploy-N.txt)")
    tag = os.environ.get("ESSAY_RIG_TAG", "eb")
    a, b, c = os.environ.get("ESSAY_RIG_SUBNET", "10.205.0").split(".")
    ap.add_argument("--tag", default=f"{tag}b")
    ap.add_argument("--subnet", default=f"{a}.{b}.{int(c) + 2}")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.installer == "uv" and not ensure_uv_on_hosts():
        sys.exit("uv is not installable on the rig's hosts; use --installer pip")
    rows = []
    with tempfile.TemporaryDirectory(prefix="essay-fleet-") as work, \
            Rig(n_web=max(sizes), n_lb=2, tag=args.tag, subnet=args.subnet) as rig, \
            running_project(rig, Path(work)) as proj:
        index = Index(Path(work) / "pypiserver.log")
        versions = proj.build(), proj.build(), proj.build()
        if 1 not in sizes:
            sizes = [1, *sizes]   # the base of the marginal CPU per host
        for i, n in enumerate(sizes):
            rows.append(measure(rig, proj, index, n, versions, args.installer, args.parallel,
                                i, args.profile, args.health_timeout, args.load_rate))
            print(table(rows, rows[0]["cpu"], args.load_rate), flush=True)
    print(f"\nMachine: {platform.node()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}, installer "
          f"{args.installer}, parallel {args.parallel or 'N'}, health_timeout "
          f"{args.health_timeout:g} s\n")
    print(table(rows, rows[0]["cpu"], args.load_rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
