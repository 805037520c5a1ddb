"""``es status``: per web host and colour, what is installed, running and healthy, and
which colour the load balancers send traffic to; a ``worker`` host that is not a web host
too (its workers; no ports, no health). One round trip per host.

The version is what is installed in the colour's venv (pip's metadata), not only what the
last successful deploy recorded in release.json: after a failed deploy the colour holds
(and may run) the new version, and the table says so, naming the last good one."""
from __future__ import annotations

import json

from essay import health
from essay.deploy.cli import deploy_hosts
from essay.deploy.commands import installed, supervise
from essay.remote.script import Script, Step
from essay.remote.shell import q, qpath
from essay.state import LbState, Operation, lb_script, report_step


def color_step(cfg, color: str, web: bool = True) -> Step:
    """``web=False``: a worker-only host, no process to ask for its health."""
    d = qpath(cfg.color_dir(color))
    check = health.local(cfg, '"$py"', color, 0) if web else "true"
    return Step(f"status {color}", "\n".join([
        f"[ -f {d}/release.json ] && essay_data release_{color} \"$(tr -d '\\n' < {d}/release.json)\"",
        f"[ -x {d}/bin/python ] && essay_data installed_{color} "
        f"\"$({installed(cfg, color)} 2>/dev/null)\"",
        f"procs=$({supervise(cfg, color, 'status')} 2>/dev/null) && "
        f"essay_data procs_{color} \"$procs\"",   # its newlines become spaces
        f"py={d}/bin/python; [ -x \"$py\" ] || py=python3",
        f"{check} || true",
        f"essay_data color_done {q(color)}"]))


def collect(ctx, role="web", hosts=None, web=True):
    """(web host results, {lb: LbState}, failed lb results); ``web=False``: the lbs only."""
    cfg = ctx.cfg
    targets = deploy_hosts(cfg, role, hosts, ctx.reporter) if web else []
    lb = lb_script(cfg, Operation("status"), "status", [report_step()], lock=False)
    lbs = cfg.hosts("lb")
    with ctx.executor() as ex:
        results = ex.run({h: Script("status", tuple(color_step(cfg, c, not worker_only(cfg, h))
                                                    for c in cfg.colors))
                          for h in targets}) if targets else {}
        lb_results = ex.run({h: lb for h in lbs}) if lbs else {}
    return results, {h: LbState.from_result(r) for h, r in lb_results.items() if r.ok}, \
        [r for r in lb_results.values() if not r.ok]


def live_of(lbs: dict) -> tuple[str, tuple[str, int] | None]:
    """(the live colour if every lb agrees, else ''; the canary (colour, weight) or None)."""
    lives = {s.live for s in lbs.values()}
    live = lives.pop() if len(lives) == 1 else ""
    return live, next((s.canary for s in lbs.values() if s.canary), None)


def worker_only(cfg, host: str) -> bool:
    """A ``worker`` host that is not a web host: it runs workers, serves nothing."""
    return host not in cfg.hosts("web") and host in cfg.worker_hosts()


HEADERS = ["host", "colour", "version", "live", "processes", "ports", "health"]


def rows(cfg, results, lbs, warn=None) -> list[list]:
    """The status table's rows: per web host and colour (``es status`` and the server).
    ``warn``: called with a line for what could not be read (a release.json not JSON)."""
    live, canary = live_of(lbs)
    rows = []
    for host, r in results.items():
        if not r.ok:
            rows.append([host, "-", "-", "", "-", "-", "unreachable"])
            continue
        healthy = health.parse(r.data.get("healthy", []))
        for color, ports in cfg.ports.items():
            rel = _release(r, color, warn)
            installed, released = r.value(f"installed_{color}") or "", rel.get("version", "")
            version = installed or released or "-"
            if installed and released and installed != released:
                version += f" (last good deploy: {released})"
            procs = (r.value(f"procs_{color}") or "").split()
            workers = [p for p in procs if p.startswith("worker-")]
            procs = [p for p in procs if not p.startswith("worker-")]
            states = [p.partition("=")[2] for p in procs]
            up = states.count("RUNNING")
            others = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states)
                               if s != "RUNNING")
            ok = sum(1 for u in healthy if any(u.endswith(f":{p}{cfg.health_path}")
                                                for p in ports))
            mark = "live" if color == live else (f"canary {canary[1]}%" if canary
                                                 and canary[0] == color else "")
            running = f"{up}/{len(ports)} running" + (f" ({others})" if others else "")
            if workers:   # [workers]: running only in the live colour
                running += "; " + " ".join(w.replace("=", " ") for w in workers)
            if worker_only(cfg, host):   # no web process, no port, no health to show
                running = " ".join(w.replace("=", " ") for w in workers)
                rows.append([host, color, version, mark, running or "stopped", "-",
                             "- (workers only)"])
                continue
            rows.append([host, color, version, mark, running if procs or workers else "stopped",
                         f"{ports[0]}-{ports[-1]}", f"{ok}/{len(ports)} healthy"])
    return rows


def cli_status(ctx, role="web", hosts=None) -> int:
    cfg, rep = ctx.cfg, ctx.reporter
    if cfg.env:
        rep.print(f"environment: {cfg.env}")
    results, lbs, lb_failed = collect(ctx, role, hosts)
    live, canary = live_of(lbs)
    rep.table(HEADERS, rows(cfg, results, lbs, rep.warn))
    unreadable = [r.message() for r in results.values() if not r.ok]
    for r in lb_failed:
        unreadable.append(r.message(f"cannot read the live colour: {r.reason}"))
    disagree = len({s.live for s in lbs.values()}) > 1
    if disagree:
        unreadable.append("the lb hosts disagree on the live colour: " +
                          ", ".join(f"{h}={s.live or 'none'}" for h, s in lbs.items()) +
                          " (`es flip COLOR` makes them agree)")
    for h, s in lbs.items():
        if s.lock:
            rep.info(f"{h}: locked by {s.lock}")
    shown = f"live colour: {live or 'none yet'}" + (f", canary {canary[0]} at {canary[1]}%"
                                                     if canary else "")
    for line in unreadable:
        rep.warn(line)
    if disagree and len(unreadable) == 1:
        rep.outcome("live colour: unknown, the lb hosts disagree", ok=False)
        return 1
    if unreadable:
        hosts = [u.split(': ', 1)[0] for u in unreadable if not u.startswith("the lb hosts")]
        rep.outcome(f"{len(hosts)} host(s) unreadable, the table is incomplete "
                    f"({', '.join(hosts)}); "
                    + (shown if lbs and not disagree else "live colour: unknown"), ok=False)
        return 1
    rep.outcome(shown)
    return 0


def _release(r, color: str, warn=None) -> dict:
    """release.json as the host sent it; an unreadable one is named, not a crash."""
    text = r.value(f"release_{color}") or "{}"
    try:
        rel = json.loads(text)
        if isinstance(rel, dict):
            return rel
    except json.JSONDecodeError:
        pass
    if warn is not None:
        warn(f"{r.host}: colour {color}'s release.json is not a JSON object: {text[:80]!r}")
    return {}
