"""``es history``: every deploy, flip, rollback and release, as the lb hosts recorded it."""
from __future__ import annotations

from essay.errors import EssayError
from essay.flip.cli import _lbs
from essay.remote.script import Step
from essay.remote.shell import q
from essay.state import Operation, lb_script

COLUMNS = ["time", "who", "command", "from", "to", "outcome", "detail", "message", "env"]


def read(ctx, lines: int = 50) -> dict[str, list[list[str]]]:
    step = Step("history", f'tail -n {q(int(lines))} "$ESSAY_STATE/history" 2>/dev/null || true')
    script = lb_script(ctx.cfg, Operation("history"), "history", [step], lock=False)
    with ctx.executor() as ex:
        results = ex.run({h: script for h in _lbs(ctx.cfg)})
    bad = [r for r in results.values() if not r.ok]
    if bad:
        raise EssayError("; ".join(r.message() for r in bad))
    width = len(COLUMNS)
    return {h: [(line.split("\t") + [""] * width)[:width]
                for line in r.steps[-1].output.split("\n") if line.strip()]
            for h, r in results.items()}


def cli_history(ctx, lines=50) -> int:
    if lines < 1:
        raise EssayError("--lines must be at least 1")
    per_host = read(ctx, lines)
    first = next(iter(per_host.values()))
    same = all(rows == first for rows in per_host.values())
    for host, rows in per_host.items():
        if not same or host == next(iter(per_host)):
            if not same:
                ctx.reporter.print(f"# {host}")
            ctx.reporter.table(COLUMNS, rows)
    ctx.reporter.outcome(f"{len(first)} entries" + ("" if same else
                         " (the lb hosts' histories differ: shown per host)"))
    return 0
