"""``[workers]``: processes that are not behind nginx, running only in the live colour.

A colour's supervisord declares its workers (``worker-NAME``, ``autostart = false``), so a
deploy into the idle colour installs and configures them without starting them. A flip
calls :func:`after_flip`: on every ``worker`` host, one round trip that **starts the new
live colour's workers, then stops the old colour's** (a rollback is a flip the other way,
so it does the reverse). Start-then-stop: a queue is never left without a consumer, and if
the new workers do not start the old ones keep running (the flip says so and fails);
for the moment both run, consumers must tolerate a second consumer (a scheduler that
must never run twice should hold a lock of its own). docs/deploy.md#workers.
"""
from __future__ import annotations

from essay import render
from essay.deploy.commands import supervise
from essay.errors import EssayError
from essay.remote.script import Script, Step
from essay.remote.shell import q, qpath


def start_step(cfg, color: str) -> Step:
    """Start ``color``'s workers (supervisord first, if it is not running): all at once,
    each then ``RUNNING`` or the step fails naming it (essay/deploy/supervise.py)."""
    d = qpath(cfg.color_dir(color))
    where = render.template_name(cfg, "supervisord.conf.j2")
    nothing = f"nothing deployed in colour {color} on this host: es deploy VERSION --color {color}"
    # [workers] is set, yet the colour's conf has no worker program: not a success
    none = (f"colour {color}'s supervisord.conf has no worker-* program: {where} does not "
            "render [workers] (es doctor says what to change), or the colour was deployed "
            "before [workers] was set (es deploy again)")
    go = supervise(cfg, color, "start-workers")
    return Step(f"workers start {color}", "\n".join([
        f"if [ ! -f {d}/etc/supervisord.conf ]; then echo {q(nothing)}; exit 3; fi",
        f"rc=0; {go} || rc=$?",
        f'if [ "$rc" = 7 ]; then {d}/bin/supervisord -c {d}/etc/supervisord.conf; '
        f"rc=0; {go} || rc=$?; fi",
        f'if [ "$rc" = 5 ]; then echo {q(none)}; exit 3; fi',
        'if [ "$rc" != 0 ]; then echo "workers not running (above)"; exit 3; fi',
        f"essay_data started {q(color)}"]))


def stop_step(cfg, color: str) -> Step:
    """Stop ``color``'s workers, all at once; nothing to do if supervisord is not running
    or the colour has no worker program (or nothing deployed)."""
    d = qpath(cfg.color_dir(color))
    return Step(f"workers stop {color}", "\n".join([
        f"[ -x {d}/bin/python ] && [ -f {d}/etc/supervisord.conf ] || exit 0",
        f"rc=0; {supervise(cfg, color, 'stop-workers')} || rc=$?",
        'case "$rc" in 0) ;; 5|7) exit 0;; *) exit "$rc";; esac',
        f"essay_data stopped {q(color)}"]))


def move_script(cfg, to: str | None, stop: str | None) -> Script:
    """Workers to colour ``to`` (started first), away from ``stop`` (stopped after)."""
    steps = ([start_step(cfg, to)] if to else []) + \
            ([stop_step(cfg, stop)] if stop and stop != to else [])
    return Script(f"workers: start {to or '-'}, stop {stop or '-'}", tuple(steps))


def after_flip(ctx, ex, old: str | None, new: str | None) -> None:
    """After the lbs switched from ``old`` to ``new``: move the workers. No workers in
    essay.toml, or no change of colour: nothing runs (no round trip)."""
    cfg = ctx.cfg
    if not cfg.workers or not new or old == new:
        return
    hosts = cfg.worker_hosts()
    results = ex.run({h: move_script(cfg, new, old or None) for h in hosts})
    bad = [r for r in results.values() if not r.ok]
    if bad:
        raise EssayError(f"traffic is on {new}, but its workers did not all move: " + "; ".join(
            f"{r.host}: {r.error}" for r in bad) + f" (es supervisor status --color {new})")
    ctx.reporter.info(f"workers: started in {new}" + (f", stopped in {old}" if old else "") +
                      f" on {len(hosts)} host(s)")
