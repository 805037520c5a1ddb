"""What the user sees: progress on stderr, tables and results on stdout.

* Progress goes to stderr: on a terminal one live line that shows what every host is
  doing; otherwise plain ``host: step`` lines. ``--quiet`` silences progress.
* Colour only on a terminal and never when ``NO_COLOR`` is set.
* Every command ends with one outcome line (:meth:`Reporter.outcome`).
* Tables and machine-readable results go to stdout.
"""
from __future__ import annotations

import os
import sys
import threading
import time

_COLORS = {"ok": "32", "fail": "31", "warn": "33", "dim": "2", "bold": "1"}


class Reporter:
    def __init__(self, quiet: bool = False, stream=None, out=None):
        self.stream = stream or sys.stderr
        self.out = out or sys.stdout
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.color = self.tty and not os.environ.get("NO_COLOR")
        self._lock = threading.Lock()
        self._live: dict[str, str] = {}
        self._drawn = False

    def paint(self, text: str, kind: str) -> str:
        return f"\033[{_COLORS[kind]}m{text}\033[0m" if self.color else text

    def _clear(self):
        if self._drawn:
            self.stream.write("\r\033[K")
            self._drawn = False

    def _draw(self):
        if self.tty and self._live and not self.quiet:
            line = " | ".join(f"{h}: {s}" for h, s in self._live.items())
            width = os.get_terminal_size(self.stream.fileno()).columns if self.tty else 120
            self.stream.write("\r\033[K" + line[: max(20, width - 1)])
            self.stream.flush()
            self._drawn = True

    def info(self, message: str):
        """A progress line (stderr); silent with --quiet."""
        if self.quiet:
            return
        with self._lock:
            self._clear()
            self.stream.write(message + "\n")
            self._draw()
            self.stream.flush()

    def warn(self, message: str):
        with self._lock:
            self._clear()
            self.stream.write(self.paint("warning: ", "warn") + message + "\n")
            self._draw()
            self.stream.flush()

    def progress(self, host: str, what: str):
        """Host ``host`` started ``what``: a live line on a terminal, a plain line otherwise."""
        if self.quiet:
            return
        with self._lock:
            if self.tty:
                self._live[host] = what
                self._draw()
            else:
                self.stream.write(f"{host}: {what}\n")
                self.stream.flush()

    def done(self, host: str):
        with self._lock:
            self._live.pop(host, None)
            self._clear()
            self._draw()

    def outcome(self, message: str, ok: bool = True):
        """The one line every command ends with."""
        with self._lock:
            self._clear()
            mark = self.paint("ok", "ok") if ok else self.paint("failed", "fail")
            self.stream.write(f"es: {mark}: {message}\n")
            self.stream.flush()

    def print(self, text: str = ""):
        """A result on stdout."""
        with self._lock:
            self._clear()
            self.out.write(text + "\n")
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
