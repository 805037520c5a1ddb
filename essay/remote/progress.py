"""The remote output as it streams in: read to the end (:func:`pump`), each step reported
as its marker arrives (:class:`Progress`) -- the same for every transport."""
from __future__ import annotations

import codecs
import io
import time

from essay.output import Reporter
from essay.output.fleet import Event
from essay.remote.script import MARK, Script


class Progress(io.TextIOBase):
    """A sink for the remote output: reports each step as its marker arrives."""

    def __init__(self, host: str, script: Script, reporter: Reporter):
        self.host, self.script, self.reporter = host, script, reporter
        self.report = script.progress
        self.buf = ""
        self.started: dict[int, float] = {}
        self.ended: dict[int, float] = {}

    def write(self, s):
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            if not line.startswith(MARK):
                continue
            parts = line[len(MARK):].split()
            if len(parts) >= 2 and parts[1].isdigit():
                n = int(parts[1])
                now = time.monotonic()
                if parts[0] == "step":
                    self.started[n] = now
                    if self.report:
                        self.reporter.event(Event("step", self.host, n, at=now))
                elif parts[0] == "end":
                    self.ended[n] = now
                    if self.report:
                        rc = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
                        self.reporter.event(Event("step_end", self.host, n, rc, at=now))
        return len(s)

    def flush(self):
        pass


def pump(read, sink) -> str:
    """Read chunks until EOF, feeding the progress sink; returns all output."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    chunks = []
    while True:
        data = read(65536)
        if not data:
            break
        text = decoder.decode(data)
        chunks.append(text)
        sink.write(text)
    chunks.append(decoder.decode(b"", final=True))
    return "".join(chunks)
