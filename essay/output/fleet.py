"""What a run across many hosts looks like, as data: :class:`Fleet` is fed events and
answers with the plain-text lines to print (pure: no terminal, no clock of its own).

Events come from the executor as each host's script streams in:

* ``Event("step", host, n)``         -- the host started step ``n`` (1-based)
* ``Event("step_end", host, n, rc)`` -- step ``n`` ended with exit status ``rc``
* ``Event("host_end", host, ok=..., reason=...)`` -- the host is done

Plain lines (not a terminal, e.g. CI logs):

* up to :data:`FEW` hosts, one line per host and step, as today: ``web1: install``, then
  ``web1: ok`` or ``web1: FAILED: <one-line reason>``;
* above that, one line per step each time another quarter of the hosts got through it
  (``install: 50/100 done``), and every failure on its own line the moment it happens.

The live view (:mod:`essay.output.live`) draws the same state on a terminal.
"""
from __future__ import annotations

from dataclasses import dataclass, field

FEW = 20          # up to this many hosts: a row (or a line) per host
QUARTERS = 4      # above it, a step's line each time another quarter got through it


@dataclass(frozen=True)
class Event:
    kind: str                 # "step", "step_end" or "host_end"
    host: str
    n: int = 0                # step number (1-based) for "step" / "step_end"
    rc: int = 0               # "step_end": the step's exit status
    ok: bool = False          # "host_end"
    reason: str = ""          # "host_end": one line, why it failed
    at: float = 0.0           # when (monotonic seconds), for elapsed times in the view


@dataclass
class HostState:
    steps: tuple[str, ...]
    step: int = 0             # the step running now (1-based); 0: not started
    ended: int = 0            # the last step that ended
    since: float = 0.0        # when that step (or the host) started
    outcome: str = ""         # "", "ok" or "failed"
    reason: str = ""


@dataclass
class StepCount:
    total: int = 0            # hosts whose script has this step
    started: int = 0
    done: int = 0             # ended with status 0
    failed: int = 0
    skipped: int = 0          # hosts that failed before reaching it
    shown: int = 0            # quarters already printed (plain mode)


@dataclass
class Fleet:
    """The state of one run: per host and per step. Feed it :meth:`apply`."""

    hosts: dict[str, HostState] = field(default_factory=dict)
    steps: dict[str, StepCount] = field(default_factory=dict)

    @classmethod
    def plan(cls, plan: dict[str, tuple[str, ...]]) -> "Fleet":
        """``plan``: each host's step names, in order."""
        fleet = cls()
        for host, names in plan.items():
            fleet.hosts[host] = HostState(steps=tuple(names))
            for name in names:
                fleet.steps.setdefault(name, StepCount()).total += 1
        return fleet

    @property
    def few(self) -> bool:
        return len(self.hosts) <= FEW

    def counts(self) -> dict[str, int]:
        """Hosts by outcome so far: ok, failed, running, waiting."""
        out = {"ok": 0, "failed": 0, "running": 0, "waiting": 0}
        for h in self.hosts.values():
            out[h.outcome or ("running" if h.step else "waiting")] += 1
        return out

    def in_flight(self) -> list[tuple[str, HostState]]:
        return [(n, h) for n, h in self.hosts.items() if h.step and not h.outcome]

    def name(self, host: str, n: int) -> str:
        steps = self.hosts[host].steps
        return steps[n - 1] if 0 < n <= len(steps) else f"step {n}"

    def apply(self, ev: Event) -> list[str]:
        """Update the state; return the plain-text lines this event calls for."""
        h = self.hosts.get(ev.host)
        if h is None:  # a host not in the plan: count it, never fail on it
            h = self.hosts[ev.host] = HostState(steps=())
        if ev.kind == "step":
            h.step, h.since = ev.n, ev.at
            name = self.name(ev.host, ev.n)
            self.steps.setdefault(name, StepCount(total=1)).started += 1
            return [f"{ev.host}: {name}"] if self.few else []
        if ev.kind == "step_end":
            name = self.name(ev.host, ev.n)
            h.ended = ev.n
            count = self.steps.setdefault(name, StepCount(total=1))
            if ev.rc == 0:
                count.done += 1
            else:
                count.failed += 1
            return [] if self.few else self._quarter_lines(name, count)
        if ev.kind == "host_end":
            h.outcome, h.reason = ("ok", "") if ev.ok else ("failed", one_line(ev.reason))
            if ev.ok:
                return [f"{ev.host}: ok"] if self.few else []
            lines = [f"{ev.host}: FAILED: {h.reason or 'failed'}"]
            if h.step > h.ended and h.step <= len(h.steps):   # lost in the middle of it
                h.ended = h.step
                self.steps[h.steps[h.step - 1]].failed += 1
                lines += [] if self.few else self._quarter_lines(h.steps[h.step - 1],
                                                                 self.steps[h.steps[h.step - 1]])
            for name in h.steps[h.step:]:   # the steps it will never run
                count = self.steps[name]
                count.skipped += 1
                lines += [] if self.few else self._quarter_lines(name, count)
            return lines
        return []

    def _quarter_lines(self, name: str, count: StepCount) -> list[str]:
        through = count.done + count.failed + count.skipped
        quarter = through * QUARTERS // count.total if count.total else QUARTERS
        if quarter <= count.shown:
            return []
        count.shown = quarter
        more = [f"{v} {k}" for k, v in (("failed", count.failed), ("skipped", count.skipped))
                if v]
        return [f"{name}: {count.done}/{count.total} done" + (f" ({', '.join(more)})"
                                                             if more else "")]


def one_line(text: str | None, width: int = 160) -> str:
    """The first non-empty line of ``text``, cut to ``width``."""
    for line in (text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= width else line[: width - 1] + "…"
    return ""
