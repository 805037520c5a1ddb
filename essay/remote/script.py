"""Remote work as data: a :class:`Script` is named :class:`Step` s run in one round trip.

Builders (``essay.deploy.commands``, ``essay.flip.commands`` ...) are pure functions that
return a Script; the executor renders it to one bash program, sends it on stdin of a
single ``bash -s`` exec channel, and parses the markers below back into per-step results::

    ::essay:: step N           a step begins (output follows, stderr merged)
    ::essay:: end N RC         it ended with exit status RC; non-zero stops the script
    ::essay:: data KEY VALUE   a value the step reports (``essay_data KEY VALUE``)

Each step runs in a subshell with ``set -e``, so a failing line fails its step and the
steps after it do not run. A step hands a value to later steps with ``essay_set NAME
VALUE`` (kept in ``$ESSAY_VARS``, sourced by every step). ``finally_`` runs on exit
whatever happened (``trap``), with those values and ``$__rc``, the script's status.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from essay.remote.shell import PRELUDE, q

MARK = "::essay::"


@dataclass(frozen=True)
class Step:
    """One named piece of shell text. ``name`` is what progress and errors show."""

    name: str
    run: str


@dataclass(frozen=True)
class Script:
    """What to run on one host, in one round trip."""

    title: str
    steps: tuple[Step, ...]
    env: tuple[tuple[str, str], ...] = ()
    defs: str = ""          # shell functions the steps share (defined once, top level)
    finally_: str = ""
    progress: bool = True   # report each step as it starts (off for quick bookkeeping)
    meta: dict = field(default_factory=dict, compare=False)  # for callers, not sent

    def render(self) -> str:
        lines = [f"# essay: {_comment(self.title)}", "set -u", PRELUDE]
        lines += [f"export {k}={q(v)}" for k, v in self.env]
        if self.defs:
            lines.append(self.defs.strip())
        lines.append('ESSAY_VARS=$(mktemp "${TMPDIR:-/tmp}/essay.XXXXXX") || exit 1')
        cleanup = "__rc=$?; " + (f"( . \"$ESSAY_VARS\"; {self.finally_} ); " if self.finally_
                                  else "") + 'rm -f "$ESSAY_VARS"; exit $__rc'
        lines.append(f"trap {q(cleanup)} EXIT")
        for n, step in enumerate(self.steps, 1):
            lines += [
                f"# step {n}: {_comment(step.name)}",
                f"printf '{MARK} step {n}\\n'",
                '( set -e; . "$ESSAY_VARS"',
                step.run,
                ") 2>&1 </dev/null; __rc=$?",
                f"printf '\\n{MARK} end {n} %s\\n' \"$__rc\"",
                '[ "$__rc" -eq 0 ] || exit "$__rc"',
            ]
        lines.append("exit 0")
        return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    """Text made safe for a one-line shell comment (a newline would end it)."""
    return str(text).replace("\n", " ")


@dataclass
class StepResult:
    name: str
    rc: int | None = None  # None: never finished (connection lost)
    output: str = ""
    seconds: float = 0.0


@dataclass
class HostResult:
    """What happened on one host. ``error`` is one line, naming what failed."""

    host: str
    ok: bool = False
    steps: list[StepResult] = field(default_factory=list)
    data: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    output: str = ""
    dry_run: bool = False

    def value(self, key: str, default: str | None = None) -> str | None:
        values = self.data.get(key)
        return values[-1] if values else default

    def message(self, text: str | None = None) -> str:
        """``text`` (default: the error) prefixed with the host exactly once."""
        text = text if text is not None else (self.error or "failed")
        return text if text.startswith(f"{self.host}: ") else f"{self.host}: {text}"

    @property
    def reason(self) -> str:
        """The error without the host prefix."""
        return (self.error or "failed").removeprefix(f"{self.host}: ")

    @property
    def failed_step(self) -> StepResult | None:
        for s in self.steps:
            if s.rc not in (0,):
                return s
        return None


def parse(script: Script, output: str, host: str) -> HostResult:
    """Turn a script's combined output back into per-step results."""
    res = HostResult(host=host, output=output)
    current: StepResult | None = None
    buf: list[str] = []
    # only "\n" ends a line: splitlines() would also split on \r, \x85, \u2028 ... and
    # cut a reported value (a lock message, a response body) short
    lines = output.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        if line.startswith(MARK + " "):
            parts = line[len(MARK) + 1:].split(" ", 2)
            kind = parts[0]
            if kind == "step" and len(parts) >= 2 and parts[1].isdigit():
                idx = int(parts[1]) - 1
                name = script.steps[idx].name if idx < len(script.steps) else f"step {idx + 1}"
                current, buf = StepResult(name=name), []
                res.steps.append(current)
                continue
            if kind == "end" and current is not None and len(parts) >= 3 \
                    and parts[1] == str(len(res.steps)):
                current.rc = int(parts[2]) if parts[2].lstrip("-").isdigit() else 1
                current.output = "\n".join(buf).rstrip("\n")
                current = None
                continue
            if kind == "data" and len(parts) >= 2:
                res.data.setdefault(parts[1], []).append(parts[2] if len(parts) > 2 else "")
                continue
        buf.append(line)
    if current is not None:
        current.output = "\n".join(buf).rstrip("\n")
    return res
