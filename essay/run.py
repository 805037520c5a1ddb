"""``es run [--color C] [--host H] -- COMMAND ...``: one command in a colour's venv and
environment on one web host (a management command, a shell), with a terminal when
``es`` has one, its exit status passed through.

The command is argv, not shell: each word is quoted, so ``es run -- python -c 'print(1)'``
runs exactly that (``es run -- sh -c '...'`` for shell). Default colour: the live one (one
read-only round trip to the lb hosts); default host: the first web host.
"""
from __future__ import annotations

import sys

from essay.deploy.cli import pick_hosts
from essay.deploy.commands import installed
from essay.errors import UsageError
from essay.remote.shell import cmd, q, qpath
from essay.secrets.host import exec_line
from essay.validate import check_color, check_host

#: exit status of ``es run`` when the colour has nothing deployed on the host
NOTHING_DEPLOYED = 125


def command_text(cfg, color: str, host: str, argv: list[str]) -> str:
    """Shell text (bash) that runs ``argv`` in the colour's directory, venv and
    environment on ``host``; pure."""
    d = qpath(cfg.color_dir(color))
    version = f"$({installed(cfg, color)} 2>/dev/null)"
    why = f"nothing is deployed in colour {color} on {host} (es deploy VERSION --color {color})"
    return "\n".join([
        f"if [ ! -x {d}/bin/python ]; then echo {q(why)} >&2; exit {NOTHING_DEPLOYED}; fi",
        f"cd {d} && . {d}/bin/activate",
        f"export ESSAY_VERSION={version} ESSAY_COLOR={q(color)} ESSAY_HOST={q(host)} "
        f"ESSAY_PORT={q(cfg.colors[color])}",
        # through the colour's exec wrapper: the secrets and the colour's ESSAY_* variables
        f"exec {exec_line(cfg, color, *argv)}"])


def live_color(ctx, ex) -> str:
    from essay.lb import LbSession

    session = LbSession(ctx, ex, "run")
    session.begin(read_only=True)
    live = session.live
    if not live:
        raise UsageError("no colour is live yet (or there are no lb hosts): give --color "
                         f"(one of {', '.join(ctx.cfg.colors)})")
    return live


def cli_run(ctx, command=None, color=None, host=None) -> int:
    cfg = ctx.cfg
    argv = list(command or [])
    if not argv:
        raise UsageError("es run needs a command after --, e.g. es run -- python -m demo "
                         "migrate")
    if color:
        check_color(color, list(cfg.colors))
    if host:
        check_host(host)
        if host not in cfg.hosts("web") + cfg.worker_hosts():
            raise UsageError(f"--host {host} is not a web or worker host in essay.toml "
                             f"(web: {', '.join(cfg.hosts('web')) or 'none'})")
    else:
        host = pick_hosts(cfg, "web", None)[0]
    with ctx.executor() as ex:
        color = color or live_color(ctx, ex)
        ctx.reporter.info(f"{host}, colour {color}: {cmd(*argv)}")
        return ex.interactive(host, command_text(cfg, color, host, argv), pty=_terminal())


def _terminal() -> bool:
    """Is es attached to a terminal it controls (stdin and stdout a tty, and this process
    in the terminal's foreground)? Then the command gets a pseudo-terminal."""
    import os

    try:
        return sys.stdin.isatty() and sys.stdout.isatty() and \
            os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except OSError:
        return False
