"""``es supervisor start|stop|restart|status [PROGRAM] [--color C]``: each colour's own
supervisord on the web hosts (essay 0.0.8's supervisor tasks).

``status`` shows every colour unless ``--color`` is given; the others need ``--color``
so that nobody stops the live colour by accident. ``start`` starts the colour's
supervisord when it is not running. ``start`` and ``restart`` of the web programs end with
the colour's health check (``[deploy] health_timeout``): ok only when every web process
answers.
"""
from __future__ import annotations

import re

from essay import health
from essay.deploy.cli import pick_hosts
from essay.deploy.commands import supervisorctl
from essay.errors import EssayError, UsageError
from essay.remote.script import Script, Step
from essay.remote.shell import qpath
from essay.validate import check_color

_PROGRAM = re.compile(r"^[A-Za-z0-9_.:-]+$")


def action_step(cfg, action: str, color: str, program: str | None) -> Step:
    d = qpath(cfg.color_dir(color))
    ctl = supervisorctl(cfg, color, action, program or "all")
    if not program and action == "status":
        ctl = supervisorctl(cfg, color, "status")
    lines = [f"if [ ! -f {d}/etc/supervisord.conf ]; then echo 'nothing deployed'; exit 0; fi",
             f"if ! {supervisorctl(cfg, color, 'pid')} >/dev/null 2>&1; then"]
    if action == "start":
        lines += [f"  {d}/bin/supervisord -c {d}/etc/supervisord.conf; sleep 1"]
    else:
        lines += ["  echo 'supervisord is not running'; exit 0"]
    lines += ["fi", f"{ctl} || [ $? -eq 3 ]"]  # status exits 3 when a program is not running
    if action in ("start", "restart") and (program is None or program.startswith("web-")):
        # "ok" only when the colour's web processes answer: supervisord calls a program
        # RUNNING after startsecs, which can be before gunicorn listens
        lines += [f"py={d}/bin/python; [ -x \"$py\" ] || py=python3",
                  health.local(cfg, '"$py"', color, cfg.health_timeout)]
    return Step(f"{action} {color}", "\n".join(lines))


def cli_supervisor(ctx, action, program=None, color=None, role="web", hosts=None) -> int:
    cfg = ctx.cfg
    if program and not _PROGRAM.match(program):
        raise UsageError(f"{program!r} is not a supervisor program name (e.g. web-0)")
    if color is not None:
        check_color(color, list(cfg.colors))
    elif action != "status":
        raise UsageError(f"es supervisor {action} needs --color (one of "
                         f"{', '.join(cfg.colors)}), so the live colour is never hit by accident")
    colors = [color] if color else list(cfg.colors)
    targets = pick_hosts(cfg, role, hosts, ctx.reporter)
    script = Script(f"supervisor {action}",
                    tuple(action_step(cfg, action, c, program) for c in colors))
    with ctx.executor() as ex:
        results = ex.run({h: script for h in targets})
    for h, r in results.items():
        for step in r.steps:
            for line in step.output.splitlines() or [""]:
                ctx.reporter.print(f"{h}  {step.name.split()[-1]}  {line}")
    bad = [r for r in results.values() if not r.ok]
    if bad:
        raise EssayError("; ".join(r.message() for r in bad))
    ctx.reporter.outcome(f"supervisor {action} on {len(results)} host(s)")
    return 0
