"""The progress view's plain-text mode and the end-of-run summary: pure functions fed
events (no terminal, no hosts)."""
import io

from essay.output import Reporter
from essay.output.fleet import FEW, Event, Fleet, one_line
from essay.remote import summary
from essay.remote.script import HostResult, StepResult

STEPS = ("prepare", "install", "configure", "start", "health", "record")


def feed(fleet, events):
    return [line for ev in events for line in fleet.apply(ev)]


def through(host, upto=len(STEPS), fail_rc=None):
    """Events of ``host`` running the steps up to ``upto``; the last fails if fail_rc."""
    evs = []
    for n in range(1, upto + 1):
        evs += [Event("step", host, n), Event("step_end", host, n,
                                              fail_rc if (fail_rc and n == upto) else 0)]
    ok = not fail_rc and upto == len(STEPS)
    return evs + [Event("host_end", host, ok=ok, reason="" if ok else "pip said no\nmore")]


def test_few_hosts_a_line_per_host_and_step_then_its_outcome():
    fleet = Fleet.plan({"web1": STEPS, "web2": STEPS})
    lines = feed(fleet, through("web1") + through("web2", 2, fail_rc=1))
    assert lines == [f"web1: {s}" for s in STEPS] + ["web1: ok", "web2: prepare",
                                                     "web2: install", "web2: FAILED: pip said no"]
    assert fleet.counts() == {"ok": 1, "failed": 1, "running": 0, "waiting": 0}


def test_many_hosts_a_line_per_quarter_of_each_step_and_every_failure_at_once():
    hosts = [f"web{i}" for i in range(1, 101)]
    fleet = Fleet.plan({h: STEPS for h in hosts})
    lines = feed(fleet, [Event("host_end", "web7", reason="web7: cannot connect: refused")])
    assert lines == ["web7: FAILED: web7: cannot connect: refused"]
    lines = feed(fleet, through("web9", 2, fail_rc=1))
    assert lines == ["web9: FAILED: pip said no"]
    lines = []
    for h in hosts:
        if h not in ("web7", "web9"):
            lines += feed(fleet, through(h))
    install = [ln for ln in lines if ln.startswith("install:")]
    assert install == ["install: 23/100 done (1 failed, 1 skipped)",
                       "install: 48/100 done (1 failed, 1 skipped)",
                       "install: 73/100 done (1 failed, 1 skipped)",
                       "install: 98/100 done (1 failed, 1 skipped)"]
    assert [ln for ln in lines if ln.startswith("health:")][-1] == \
        "health: 98/100 done (2 skipped)"
    assert not any(ln.startswith("web") for ln in lines)     # no per-host lines above FEW
    assert fleet.counts() == {"ok": 98, "failed": 2, "running": 0, "waiting": 0}


def test_a_host_lost_in_the_middle_of_a_step_counts_that_step_failed():
    hosts = {f"h{i}": STEPS for i in range(FEW + 1)}
    fleet = Fleet.plan(hosts)
    feed(fleet, [Event("step", "h0", 1), Event("step_end", "h0", 1, 0), Event("step", "h0", 2),
                 Event("host_end", "h0", reason="h0: SSH error: lost")])
    assert fleet.steps["install"].failed == 1 and fleet.steps["health"].skipped == 1
    assert fleet.in_flight() == []


def test_reporter_plain_mode_quiet_and_not_a_terminal():
    err = io.StringIO()
    rep = Reporter(stream=err, out=io.StringIO())
    assert not rep.tty and not rep.color
    rep.start_run({"web1": STEPS}, "deploy demo 1 into a")
    for ev in through("web1"):
        rep.event(ev)
    rep.end_run()
    assert err.getvalue().splitlines() == [f"web1: {s}" for s in STEPS] + ["web1: ok"]
    quiet = io.StringIO()
    rep = Reporter(quiet=True, stream=quiet)
    rep.start_run({"web1": STEPS})
    for ev in through("web1", 1, fail_rc=2):
        rep.event(ev)
    rep.end_run()
    assert quiet.getvalue() == ""


def test_one_line():
    assert one_line("\n  first \nsecond") == "first"
    assert one_line(None) == ""
    assert one_line("x" * 200, 10) == "x" * 9 + "…"


def result(host, ok=True, steps=(), error=None):
    return HostResult(host=host, ok=ok, error=error,
                      steps=[StepResult(n, rc, "Collecting x\nERROR: no such dist" if rc else "")
                             for n, rc in steps])


def test_summary_failed_hosts_first_with_a_reason_and_counts_by_outcome():
    results = {"web1": result("web1", steps=[("install", 0)]),
               "web2": result("web2", False, error="web2: cannot connect: No route to host"),
               "web3": result("web3", False, [("install", 1)], "install failed (exit 1):\nERR"),
               "web4": result("web4", False, error="web4: timed out connecting; is it up?")}
    assert [r.host for r in summary.failed_first(results)] == ["web2", "web3", "web4", "web1"]
    assert [summary.outcome(r) for r in results.values()] == \
        ["ok", "unreachable", "failed at install", "unreachable"]
    assert summary.reason(results["web2"]) == "cannot connect: No route to host"
    assert summary.reason(results["web3"]) == "install failed (exit 1): ERROR: no such dist"
    assert summary.reason(results["web1"]) == ""
    assert summary.counts(results) == \
        "4 hosts: 1 ok, 3 failed (2 unreachable, 1 failed at install)"
    assert summary.counts({"web1": results["web1"]}) == "1 host: 1 ok, 0 failed"


def test_a_long_host_list_fits_one_line():
    hosts = [f"web{i}" for i in range(1, 101)]
    assert summary.names(hosts) == "web1, web2, web3, … 94 more …, web98, web99, web100"
    assert summary.names(hosts[:12]) == ", ".join(hosts[:12])
