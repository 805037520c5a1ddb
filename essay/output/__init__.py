"""What the user sees: progress on stderr, tables and results on stdout.

* Progress goes to stderr. A run across hosts (:meth:`Reporter.start_run` ...
  :meth:`Reporter.end_run`, driven by the executor) is, on a terminal, a live view
  (:mod:`essay.output.live`, rich): a row per host up to 20 hosts, above that a progress
  bar per step; failures are printed as they happen. Not on a terminal: plain lines
  (:mod:`essay.output.fleet`). ``--quiet`` silences progress.
* Colour only on a terminal and never when ``NO_COLOR`` is set.
* Every command ends with one outcome line (:meth:`Reporter.outcome`).
* Tables and machine-readable results go to stdout.
* Everything printed is redacted: the password of any ``scheme://user:password@`` URL
  (an index URL in a dry-run script, an error) becomes ``***``.
"""
from __future__ import annotations

import os
import re
import sys
import threading
import time

from essay.output.fleet import Event, Fleet

_SECRET_URL = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:'\"]*:)[^\s/@'\"]+@")


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` URL replaced."""
    return _SECRET_URL.sub(r"\1***@", str(text))


_COLORS = {"ok": "32", "fail": "31", "warn": "33", "dim": "2", "bold": "1"}


class Reporter:
    def __init__(self, quiet: bool = False, stream=None, out=None):
        self.stream = stream or sys.stderr
        self.out = out or sys.stdout
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.color = self.tty and not os.environ.get("NO_COLOR")
        self._lock = threading.Lock()
        self.fleet: Fleet | None = None
        self._view = None   # the live view of the current run, on a terminal

    def paint(self, text: str, kind: str) -> str:
        return f"\033[{_COLORS[kind]}m{text}\033[0m" if self.color else text

    def _write(self, text: str):
        """A line on stderr, above the live view if one is drawn."""
        text = redact(text)
        with self._lock:
            if self._view is not None:
                self._view.print(text)
            else:
                self.stream.write(text + "\n")
                self.stream.flush()

    def info(self, message: str):
        """A progress line (stderr); silent with --quiet."""
        if not self.quiet:
            self._write(message)

    def warn(self, message: str):
        self._write(self.paint("warning: ", "warn") + message)

    def check(self):
        """Called by the executor before every remote action; raising stops it. A
        server job's reporter raises once the job is no longer its worker's
        (:class:`essay.server.jobs.JobReporter`); this one lets everything run."""

    # -- a run across hosts (the executor's events) ----------------------------------

    def start_run(self, plan: dict[str, tuple[str, ...]], title: str = ""):
        """A run begins: ``plan`` is each host's step names."""
        with self._lock:
            self.fleet = Fleet.plan(plan)
            if self.tty and not self.quiet:
                from essay.output.live import LiveView

                self._view = LiveView(self.fleet, self.stream, self.color, title)
                self._view.start()

    def event(self, ev: Event):
        """Feed one event to the run's state; print what it calls for."""
        fleet = self.fleet
        if fleet is None:
            return
        view = self._view
        if view is not None:
            with view.lock:
                lines = fleet.apply(ev)
            for line in lines:   # on a terminal only failures are printed: rows show the rest
                if ": FAILED: " in line:
                    self._write(self.paint(line, "fail"))
            return
        with self._lock:
            lines = fleet.apply(ev)
        if not self.quiet:
            for line in lines:
                self._write(line)

    def end_run(self):
        with self._lock:
            view, self._view = self._view, None
        if view is not None:
            view.stop()

    # -- results -----------------------------------------------------------------------

    def outcome(self, message: str, ok: bool = True):
        """The one line every command ends with."""
        mark = self.paint("ok", "ok") if ok else self.paint("failed", "fail")
        self._write(f"es: {mark}: {message}")

    def print(self, text: str = ""):
        """A result on stdout."""
        with self._lock:
            self.out.write(redact(text) + "\n")
            self.out.flush()

    def table(self, headers: list[str], rows: list[list]):
        self.print(table(headers, rows))


def table(headers: list[str], rows: list[list]) -> str:
    """Plain aligned columns: readable on a terminal, easy to grep and to diff."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(cells[0]), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells[1:]])


class Timer:
    def __init__(self):
        self.start = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.start
