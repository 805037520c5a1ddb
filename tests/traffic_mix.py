"""The load mix of issue 9, for tests/test_traffic.py and bench/soak.py: continuous load
through every lb (keep-alive GETs, keep-alive POSTs with a body, 3 s slow requests) while
a sequence of flips, rollbacks, a canary and deploys runs with chosen gaps.

Failures are counted by the load generators themselves (wrk's summary: non-2xx/3xx
responses, socket errors) and by nginx (its error.log on every lb), never from what essay
says about itself.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: wrk Lua: each connection waits DELAY ms between requests (the rig's CPUs are shared
#: with the es commands under test), keep-alive throughout
DELAY_MS = 10
GET_LUA = f"function delay() return {DELAY_MS} end\n"
POST_LUA = GET_LUA + """\
wrk.method = "POST"
wrk.body = string.rep("essay-", 400)          -- 2400 bytes
wrk.headers["Content-Type"] = "application/octet-stream"
"""
#: wrk per lb: (name, threads, connections, path, lua script or None, extra args). The
#: 8 s requests are in flight on a colour when a deploy restarts it right after a flip.
#: ``--timeout``: wrk counts a response slower than this as a "timeout" socket error (it
#: still arrives); the rig's 2 cores are shared by everything, so 10 s, not wrk's 2 s.
LOADS = [("get", 1, 8, "/", GET_LUA, ["--timeout", "10s"]),
         ("post", 1, 4, "/echo", POST_LUA, ["--timeout", "10s"]),
         ("slow", 1, 4, "/slow?seconds=3", None, ["--timeout", "15s"]),
         ("long", 1, 4, "/slow?seconds=8", None, ["--timeout", "20s"])]
#: gaps between operations, seconds: every one of these occurs
GAPS = [0.5, 1, 1.5, 2, 2.5, 3]
#: gaps after each deploy into the colour that was live a moment ago (:func:`reload_chain`)
DEPLOY_GAPS = [0.5, 1, 3, 10]
#: nginx error.log lines that mean a request suffered (levels error and above, and nginx
#: marking servers down)
BAD_LOG = re.compile(r"\[(error|crit|alert|emerg)\]|temporarily disabled|no live upstreams")


def parse_wrk(text: str) -> dict:
    """wrk's own counts from its summary: requests, non2xx, socket_errors."""
    out = {"requests": int(re.search(r"(\d+) requests in", text).group(1))}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(map(int, m.groups())) if m else 0
    out["errors"] = m.group(0) if m else ""
    return out


@dataclass
class Load:
    """wrk processes, one per (lb, kind), started together; ``stop()`` -> counts."""
    urls: dict                          # lb alias -> base URL
    seconds: int
    procs: dict = field(default_factory=dict)

    def start(self):
        tmp = Path(tempfile.mkdtemp(prefix="essay-wrk-"))
        for lb, base in self.urls.items():
            for name, threads, conns, path, lua, extra in LOADS:
                if lua:
                    (tmp / f"{name}.lua").write_text(lua)
                    extra = [*extra, "-s", str(tmp / f"{name}.lua")]
                argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{self.seconds}s", *extra,
                        base + path]
                self.procs[(lb, name)] = subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return self

    def stop(self) -> dict:
        """Stop every wrk (SIGINT: it prints its summary) -> {(lb, kind): counts}."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        out = {}
        for key, p in self.procs.items():
            text, _ = p.communicate(timeout=60)
            try:
                out[key] = {**parse_wrk(text), "text": text}
            except AttributeError:          # no summary: wrk itself failed
                out[key] = {"requests": 0, "non2xx": 0, "socket_errors": 1, "text": text}
        return out


def error_log_size(rig, lb) -> int:
    try:
        return os.path.getsize(f"{rig.home_of(lb)}/nginx/error.log")
    except OSError:
        return 0


def bad_log_lines(rig, lb, since: int) -> list[str]:
    with open(f"{rig.home_of(lb)}/nginx/error.log", "rb") as f:
        f.seek(since)
        text = f.read().decode("utf-8", "replace")
    return [line for line in text.splitlines() if BAD_LOG.search(line)]


def operations(n_pairs: int, gaps=GAPS) -> list[tuple[tuple[str, ...], float]]:
    """``n_pairs`` (flip b, rollback) pairs, each followed by a gap from ``gaps`` in turn:
    every gap comes after a flip and after a rollback."""
    ops = []
    for i in range(n_pairs):
        ops.append((("flip", "b"), gaps[i % len(gaps)]))
        ops.append((("rollback",), gaps[(i + len(gaps) // 2) % len(gaps)]))
    return ops


@dataclass
class MixResult:
    counts: dict
    log: dict
    ops: list
    seconds: float

    @property
    def totals(self) -> dict:
        t = {"requests": 0, "non2xx": 0, "socket_errors": 0}
        for c in self.counts.values():
            for k in t:
                t[k] += c[k]
        return t

    def summary(self) -> str:
        rows = [f"{lb:4} {kind:5} requests {c['requests']:7}  non-2xx {c['non2xx']:6}  "
                f"socket errors {c['socket_errors']:5}  {c.get('errors', '')}"
                for (lb, kind), c in self.counts.items()]
        rows.append(f"total: {self.totals} in {self.seconds:.0f}s, {len(self.ops)} operations")
        rows += [f"{lb} error.log: {len(lines)} bad line(s)" + (f", first: {lines[0]}"
                                                                 if lines else "")
                 for lb, lines in self.log.items()]
        return "\n".join(rows)


def reload_chain(op, live: str, held: dict, versions, gaps) -> str:
    """For each gap G: flip away from the ``live`` colour while its slow requests are in
    flight, 0.2 s later deploy into it a version neither colour has (only the app
    changed: gunicorn reloads, its old workers draining those requests), then wait G. The
    next flip goes to the colour deployed G seconds before, the next deploy into the
    other colour; a last flip goes to the last one deployed. ``held``: {colour: version},
    kept up to date; ``op(args, gap)`` runs es and waits. Returns the live colour."""
    for gap in gaps:
        idle, live = live, "b" if live == "a" else "a"
        op(("flip", live), 0.2)
        version = next(v for v in versions if v not in held.values())
        op(("deploy", version, "--color", idle), gap)
        held[idle] = version
    op(("flip", idle), 2.5)
    return idle


def run_mix(rig, es, versions, min_seconds=120, n_pairs=10, log=print) -> MixResult:
    """Colour a (versions[0]) live and b (versions[1]) deployed; then under load:
    ``n_pairs`` flip/rollback pairs with the GAPS, canaries (b at 30%, then 2%), the
    :func:`reload_chain` over DEPLOY_GAPS (versions[2] joins the rotation), a flip to a;
    then more pairs until ``min_seconds`` have passed. ``es(*args)`` runs es and asserts
    success."""
    urls = {lb: f"http://{rig.address(lb)}:8080" for lb in rig.lbs}
    marks = {lb: error_log_size(rig, lb) for lb in rig.lbs}
    load = Load(urls, seconds=int(min_seconds) + 600).start()
    done, t0 = [], time.monotonic()

    def op(args, gap):
        es(*args)
        done.append((args, gap, round(time.monotonic() - t0, 1)))
        log(f"{time.monotonic() - t0:6.1f}s es {' '.join(args)}; next in {gap}s")
        time.sleep(gap)

    try:
        time.sleep(3)                                    # every connection warm
        for args, gap in operations(n_pairs):
            op(args, gap)
        op(("flip", "b", "--weight", "30"), 2)           # canary: 30% to b
        op(("rollback",), 3)                             # back to a alone
        # a thin canary: b's upstream connections idle for random spells between
        # requests -- the keep-alive race of issue 9 in its natural habitat
        op(("flip", "b", "--weight", "2"), 10)
        op(("rollback",), 3)
        time.sleep(1)                                    # slow requests in flight on a
        held = {"a": versions[0], "b": versions[1]}
        if reload_chain(op, "a", held, versions, DEPLOY_GAPS) != "a":
            op(("flip", "a"), 2.5)
        i = 0
        while time.monotonic() - t0 < min_seconds:
            for args, gap in operations(1, GAPS[i % len(GAPS):] + GAPS[:i % len(GAPS)]):
                op(args, gap)
            i += 1
        time.sleep(9)                                    # the last slow requests answer
    finally:
        counts = load.stop()
    return MixResult(counts, {lb: bad_log_lines(rig, lb, marks[lb]) for lb in rig.lbs},
                     done, time.monotonic() - t0)

