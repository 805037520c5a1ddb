"""``es lock status|release|break``: the lock deploy, flip, rollback and release take.

The lock is a directory on every lb host (``<state_dir>/lock``, made with ``mkdir``: atomic)
holding who, when, which command and its message. A second run while it is held fails
fast and names the holder. Failures, exceptions and Ctrl-C release it; a run killed
outright leaves it behind: ``es lock break`` removes it whoever holds it, ``es lock
release`` only if it is yours (same user@host).
"""
from __future__ import annotations

from essay.errors import EssayError
from essay.flip.cli import _lbs
from essay.remote.script import Step
from essay.remote.shell import q
from essay.state import Operation, lb_script
from essay.validate import check_message

_READ = ('if [ -f "$ESSAY_STATE/lock/info" ]; then essay_data lock "$(cut -f2- '
         '"$ESSAY_STATE/lock/info")"; fi')


def _run(ctx, steps, command="lock", message=""):
    op = Operation(command, message)
    script = lb_script(ctx.cfg, op, f"lock: {command}", steps, lock=False)
    with ctx.executor() as ex:
        results = ex.run({h: script for h in _lbs(ctx.cfg)})
    bad = [r for r in results.values() if not r.ok]
    if bad:
        raise EssayError("; ".join(r.message() for r in bad))
    return op, results


def _holder(r) -> list[str]:
    info = r.value("lock")
    return (info.split("\t") + [""] * 4)[:4] if info else []


def holders(ctx) -> dict[str, list[str]]:
    """{lb host: [who, since, command, message]} ([] where the lock is free)."""
    _, results = _run(ctx, [Step("read lock", _READ)])
    return {h: _holder(r) for h, r in results.items()}


def cli_status(ctx) -> int:
    _, results = _run(ctx, [Step("read lock", _READ)])
    rows = [[h, *(_holder(r) or ["(free)", "", "", ""])] for h, r in results.items()]
    ctx.reporter.table(["lb host", "held by", "since", "command", "message"], rows)
    held = sum(1 for r in results.values() if r.value("lock"))
    ctx.reporter.outcome(f"locked on {held} of {len(results)} lb host(s)" if held
                         else "the lock is free")
    return 0


def cli_release(ctx) -> int:
    """Remove the lock if this user@host holds it (e.g. after a run was killed)."""
    me = Operation("lock release").user
    remove = Step("release", "\n".join([
        _READ,
        'if [ -f "$ESSAY_STATE/lock/info" ]; then',
        f'  if [ "$(cut -f2 "$ESSAY_STATE/lock/info")" != {q(me)} ]; then',
        '    echo "held by $(cut -f2 "$ESSAY_STATE/lock/info"), not you: es lock break removes it"',
        "    exit 1", "  fi",
        '  rm -rf "$ESSAY_STATE/lock"; es_history "lock release" - - released "by its holder"',
        "fi"]))
    _run(ctx, [remove], "lock release")
    ctx.reporter.outcome("the lock is released")
    return 0


def cli_break(ctx, message=None) -> int:
    """Remove the lock whoever holds it; the history records who broke whose lock."""
    if message:
        check_message(message)
    remove = Step("break", "\n".join([
        _READ,
        'if [ -f "$ESSAY_STATE/lock/info" ]; then',
        '  held=$(cut -f2,4 "$ESSAY_STATE/lock/info" | tr "\\t" " ")',
        '  rm -rf "$ESSAY_STATE/lock"',
        '  es_history "lock break" - - broken "held by $held"',
        "fi"]))
    _, results = _run(ctx, [remove], "lock break", message or "")
    for h, r in results.items():
        holder = _holder(r)
        ctx.reporter.info(f"{h}: " + (f"broke the lock of {holder[0]} ({holder[2]} since "
                                      f"{holder[1]})" if holder else "was not locked"))
    ctx.reporter.outcome("the lock is broken")
    return 0
