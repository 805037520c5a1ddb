"""The end of a run across hosts, for people and for grep: outcomes, rows, counts.

Failed hosts come first, each with a one-line reason; the counts line says how many
hosts ended how (``100 hosts: 98 ok, 2 failed (2 unreachable)``).
"""
from __future__ import annotations

from collections import Counter

from essay.output.fleet import one_line
from essay.remote.script import HostResult


def outcome(r: HostResult) -> str:
    """ok, dry run, unreachable (no SSH session), or failed at the step that failed."""
    if r.dry_run:
        return "dry run"
    if r.ok:
        return "ok"
    step = r.failed_step
    if not r.steps:
        return "unreachable"
    return f"failed at {step.name}" if step is not None else "failed"


def reason(r: HostResult) -> str:
    """Why it failed, in one line (empty if it did not): the connection's error, or the
    failing step and what it said (health first what a process answered; other steps,
    pip's error, last)."""
    if r.ok or r.dry_run:
        return ""
    step = r.failed_step
    if step is not None and step.rc is not None:
        said = [ln.strip() for ln in step.output.splitlines()
                if ln.strip() and not ln.startswith("---")]
        said = said[:1] if step.name == "health" else said[-1:]
        return f"{step.name} failed (exit {step.rc})" + (f": {one_line(said[0])}" if said
                                                         else "")
    return (one_line(r.error) or "failed").removeprefix(f"{r.host}: ")


def failed_first(results: dict[str, HostResult]) -> list[HostResult]:
    """The results, failed hosts first (each group in the given order)."""
    return sorted(results.values(), key=lambda r: r.ok or r.dry_run)


def counts(results: dict[str, HostResult]) -> str:
    """``20 hosts: 18 ok, 2 failed (2 unreachable)``."""
    by = Counter(outcome(r) for r in results.values())
    ok = by.pop("ok", 0) + by.pop("dry run", 0)
    failed = sum(by.values())
    detail = ", ".join(f"{n} {k}" for k, n in sorted(by.items(), key=lambda kv: -kv[1]))
    return (f"{len(results)} host{'s' if len(results) != 1 else ''}: {ok} ok, {failed} failed"
            + (f" ({detail})" if detail else ""))


def names(hosts: list[str], few: int = 6) -> str:
    """Hosts for one line: all of them when few, else the first and last few and a count
    (``web1, web2, web3, … 94 more …, web98, web99, web100``)."""
    if len(hosts) <= 2 * few:
        return ", ".join(hosts)
    return ", ".join([*hosts[:few // 2], f"… {len(hosts) - 2 * (few // 2)} more …",
                      *hosts[-(few // 2):]])
