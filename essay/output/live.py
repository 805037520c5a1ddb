"""The live view on a terminal (rich): drawn from a :class:`essay.output.fleet.Fleet`.

* up to ``FEW`` hosts: a row per host -- its step (n/m), how long it has been at it, or
  its outcome;
* above: a progress bar per step (prepare, install, configure, start, health, ...) with
  ``done/total`` and failures, and one line counting hosts by outcome.

Failures are printed above the view as they happen (by the reporter). Imported only
when a terminal shows progress: ``es`` without a terminal never loads rich.
"""
from __future__ import annotations

import threading
import time

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from essay.output.fleet import Fleet


class LiveView:
    """A rich ``Live`` that redraws the fleet a few times a second."""

    def __init__(self, fleet: Fleet, stream, color: bool, title: str = ""):
        self.fleet, self.title = fleet, title
        self.lock = threading.Lock()       # guards ``fleet`` between events and redraws
        self.console = Console(file=stream, no_color=not color, highlight=False,
                               force_terminal=True)
        self.live = Live(console=self.console, get_renderable=self._render,
                         refresh_per_second=6, transient=True, redirect_stdout=False,
                         redirect_stderr=False)

    def start(self):
        self.live.start()

    def stop(self):
        self.live.stop()

    def print(self, text: str):
        """A line above the view (``text`` may carry the reporter's colour codes)."""
        self.console.print(Text.from_ansi(text), soft_wrap=True)

    def _render(self):
        with self.lock:
            return render(self.fleet, time.monotonic(), self.title)


def render(fleet: Fleet, now: float, title: str = ""):
    """The renderable for the fleet's state at ``now``."""
    c = fleet.counts()
    head = Text(f"{title}  " if title else "", style="bold")
    head.append(f"{c['ok']} ok", style="green")
    head.append(f", {c['failed']} failed", style="red" if c["failed"] else "")
    head.append(f", {c['running']} running, {c['waiting']} waiting")
    if fleet.few:
        return Group(head, _rows(fleet, now))
    return Group(head, _bars(fleet))


def _rows(fleet: Fleet, now: float) -> Table:
    t = Table.grid(padding=(0, 2))
    for _ in range(3):
        t.add_column()
    for host, h in fleet.hosts.items():
        if h.outcome == "ok":
            t.add_row(host, Text("ok", style="green"), "")
        elif h.outcome:
            t.add_row(host, Text("FAILED", style="red"), Text(h.reason, style="red"))
        elif h.step:
            name = h.steps[h.step - 1] if h.step <= len(h.steps) else f"step {h.step}"
            t.add_row(host, f"{name} ({h.step}/{len(h.steps)})", f"{now - h.since:.0f}s")
        else:
            t.add_row(host, Text("waiting", style="dim"), "")
    return t


def _bars(fleet: Fleet) -> Table:
    t = Table.grid(padding=(0, 2))
    for _ in range(3):
        t.add_column()
    for name, s in fleet.steps.items():
        through = s.done + s.failed + s.skipped
        bad = ", ".join(f"{v} {k}" for k, v in (("failed", s.failed), ("skipped", s.skipped))
                        if v)
        t.add_row(name, ProgressBar(total=max(1, s.total), completed=through, width=40),
                  f"{s.done}/{s.total}" + (f"  ({bad})" if bad else "")
                  + (f"  {s.started - through} at it" if s.started > through else ""))
    return t
