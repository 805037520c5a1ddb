"""``es``: the command line, generated from :data:`essay.commands.COMMANDS`.

Why argparse (and not invoke, which ``fab`` uses): essay's commands nest with spaces
(``es pypi serve``, ``es lock status``) and take positionals (``es deploy VERSION``);
argparse does both natively, prints usage on bad flags, and costs nothing at start-up
(``es rollback`` must start fast). The same table generates the ``fab`` tasks
(:mod:`essay.fabtasks`), so both run one code path.
"""
from __future__ import annotations

import argparse
import os
import sys

from essay import __version__
from essay.commands import COMMANDS, Command, resolve
from essay.errors import EssayError


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line saying what was wrong (a mistyped command: the nearest one), then the
        usage; exit 2."""
        import difflib
        import re

        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2))
            near = difflib.get_close_matches(m.group(1), choices, n=1)
            if near:
                message += f"; did you mean `{self.prog} {near[0]}`?"
        sys.stderr.write(f"es: error: {message}\n")
        self.print_usage(sys.stderr)
        sys.exit(2)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``es`` parser; ``only``: just the commands under that first word (what a
    command line that names one needs: building all ~35 parsers is ~30 ms of a rollback)."""
    top = _Parser(prog="es", description="essay: build, publish, deploy and flip Python "
                  "web projects between blue/green colours.",
                  epilog="`es COMMAND --help` tells more. Docs: docs/ in the repository.")
    top.add_argument("--version", action="version", version=f"essay {__version__}")
    top.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    top.add_argument("-c", "--config", metavar="FILE", help="essay.toml to use "
                     "(default: the nearest one from the working directory up)")
    env_help = "the environment ([env.NAME] in essay.toml; default: $ESSAY_ENV, else " \
        "default_env)"
    top.add_argument("-e", "--env", metavar="NAME", help=env_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress output")
    common.add_argument("-e", "--env", metavar="NAME", default=argparse.SUPPRESS,
                        help=env_help)
    subs = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    groups: dict[str, argparse._SubParsersAction] = {}
    parsers: dict[str, argparse.ArgumentParser] = {}  # a command that is also a group:
    for cmd in COMMANDS:                               # `es server` and `es server worker`
        words = cmd.name.split()
        if only is not None and words[0] != only:
            continue
        parent = subs
        for i, word in enumerate(words[:-1]):
            key = " ".join(words[: i + 1])
            if key not in groups:
                p = parsers.get(key) or parent.add_parser(word, help=f"{word} commands")
                groups[key] = p.add_subparsers(dest=f"sub_{i}", metavar="COMMAND",
                                               parser_class=_Parser,
                                               required=key not in parsers)
            parent = groups[key]
        p = parent.add_parser(words[-1], help=cmd.help, parents=[common],
                              description=cmd.description or cmd.help)
        for arg in cmd.args:
            _add(p, arg)
        p.set_defaults(_command=cmd, _parser=p)
        parsers[cmd.name] = p
    return top


def _add(p: argparse.ArgumentParser, arg):
    kw = {"help": arg.help}
    if arg.flag:
        p.add_argument(arg.name, action="store_true", dest=arg.dest, **kw)
        return
    if arg.positional:
        if arg.nargs:
            kw["nargs"] = arg.nargs
        if arg.default is not None:
            kw["default"] = arg.default
        p.add_argument(arg.name, metavar=arg.metavar or arg.name.upper(), type=arg.type,
                       choices=arg.choices, **kw)
        return
    names = (arg.name, "--colour") if arg.name == "--color" else (arg.name,)  # essay says colour
    p.add_argument(*names, dest=arg.dest, default=arg.default, type=arg.type,
                   metavar=arg.metavar, choices=arg.choices, **kw)


def run(cmd: Command, options: dict, quiet: bool = False, config_path=None,
        env: str | None = None, ctx=None) -> int:
    """Run one command: the shared path of ``es``, ``fab`` and ``es server``'s jobs (which
    pass their own ``ctx``: the project, the environment, a reporter into the job's log).
    Returns the exit status."""
    from pathlib import Path

    from essay.context import Context
    from essay.output import Reporter

    ctx = ctx or Context(reporter=Reporter(quiet=quiet),
                         config_path=Path(config_path) if config_path else None,
                         env=env or None)
    try:
        if cmd.needs_config:
            ctx.cfg  # validate essay.toml before anything runs
        return int(resolve(cmd.handler)(ctx, **options) or 0)
    except EssayError as e:
        ctx.reporter.outcome(str(e), ok=False)
        return e.exit_code
    except KeyboardInterrupt as e:   # a command may say what the interruption left
        ctx.reporter.outcome(str(e) or "interrupted", ok=False)
        return 130
    finally:
        if "essay.remote.openssh" in sys.modules:   # sessions started, never used
            sys.modules["essay.remote.openssh"].discard_early()


def _command_word(argv: list[str]) -> str | None:
    """The command's first word in ``argv`` if it names one (after the top-level options),
    else None (then every command is built: help, suggestions)."""
    takes_value = {"-c", "--config", "-e", "--env"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in takes_value:
            i += 2
            continue
        if a.startswith("-"):
            if a in ("-h", "--help", "--version"):
                return None
            i += 1
            continue
        return a if any(c.name.split()[0] == a for c in COMMANDS) else None
    return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_word(argv))
    ns, extra = parser.parse_known_args(argv)
    if extra:   # a bad flag: the subcommand's usage, not the top level's
        import difflib

        sub = getattr(ns, "_parser", parser)
        flags = [o for a in sub._actions for o in a.option_strings]
        near = difflib.get_close_matches(extra[0].split("=")[0], flags, n=1)
        sub.error(f"unrecognized arguments: {' '.join(extra)}"
                  + (f"; did you mean {near[0]}?" if near else ""))
    cmd = getattr(ns, "_command", None)
    if cmd is None:
        parser.print_help(sys.stderr)
        return 2
    options = {a.dest: getattr(ns, a.dest) for a in cmd.args}
    code = run(cmd, options, quiet=ns.quiet, config_path=ns.config, env=ns.env)
    if code == 130:   # interrupted: no waiting on worker threads (and no traceback from them)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    return code


if __name__ == "__main__":
    sys.exit(main())
