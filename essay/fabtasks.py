"""essay's commands as Fabric tasks, for a project's ``fabfile.py``::

    from essay.fabtasks import namespace

``fab -l`` then lists them; ``fab rollback`` runs exactly what ``es rollback`` runs (both
call :func:`essay.cli.run` with the same command from :data:`essay.commands.COMMANDS`).
Grouped commands keep Fabric's dotted names: ``es pypi serve`` is ``fab pypi.serve``.
Every task takes ``--env NAME`` / ``-e NAME`` (``es -e NAME``); ``ESSAY_ENV=NAME fab ...``
works too. ``-h`` and ``--help`` after any task show that task's help.
"""
from __future__ import annotations

import inspect
import keyword

from invoke import Collection, Task
from invoke.exceptions import Exit

from essay.commands import COMMANDS, Command

ENV_HELP = "the environment ([env.NAME] in essay.toml; default: $ESSAY_ENV, else default_env)"


def _param(arg) -> str:
    """The task parameter for an option: named like the ``es`` flag (``--next`` -> next);
    a Python keyword gets an ``_env`` suffix (``es promote --from`` -> ``--from-env``)."""
    name = arg.name.lstrip("-").replace("-", "_")
    return f"{name}_env" if keyword.iskeyword(name) else name


def _body(cmd: Command):
    def body(c, env=None, **given):
        from essay.cli import run

        if any(given.get(_param(a)) in ("--help", "-h") for a in cmd.args if a.positional):
            _task_help(cmd)   # `fab deploy --help`: invoke hands "--help" over as VERSION
        if given.get("colour") is not None and given.get("color") is None:
            given["color"] = given["colour"]   # essay itself writes "colour"
        options = {arg.dest: given.get(_param(arg)) for arg in cmd.args}
        for arg in cmd.args:  # invoke hands values over as given on the command line
            value = options.get(arg.dest)
            if arg.nargs in ("*", "+") and isinstance(value, str):
                options[arg.dest] = [v for v in value.split(",") if v]
            elif value is not None and arg.type is int and not isinstance(value, int):
                options[arg.dest] = int(value)
        code = run(cmd, options, env=env)
        if code:
            raise Exit(code=code)

    params = [inspect.Parameter("c", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for arg in cmd.args:
        if arg.positional and arg.nargs is None:
            default = inspect.Parameter.empty
        elif arg.flag:
            default = False
        else:
            default = arg.default
        params.append(inspect.Parameter(_param(arg), inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        default=default))
    if any(a.name == "--color" for a in cmd.args):
        params.append(inspect.Parameter("colour", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        default=None))
    params.append(inspect.Parameter("env", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    default=None))
    body.__signature__ = inspect.Signature(params)
    body.__name__ = cmd.name.split()[-1].replace("-", "_")
    body.__doc__ = cmd.help[0].upper() + cmd.help[1:] + "."
    return body


def _task_help(cmd: Command):
    """Show invoke's own help for this task (``fab --help TASK``) instead of running it."""
    import os
    import sys

    dotted = ".".join(cmd.name.split())
    argv = list(sys.argv)
    at = next((i for i, a in enumerate(argv) if a in (dotted, cmd.name.split()[-1])), len(argv))
    if os.access(argv[0], os.X_OK):
        sys.stdout.flush()
        os.execv(argv[0], [*argv[:at], "--help", dotted])
    raise Exit(f"see: fab --help {dotted}", code=0)


class _EssayTask(Task):
    """A task whose automatic short flags leave ``-h`` to invoke's help (``fab status -h``,
    not ``--hosts``) and give ``-e`` to ``--env`` on every task, as ``es -e NAME``."""

    RESERVED = {"h", "e"}

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names | self.RESERVED)
        if name == "env":
            opts["names"] = ["env", "e"]
        return opts


def _task(cmd: Command) -> Task:
    helps = {_param(a).replace("_", "-"): a.help.replace("%%", "%") for a in cmd.args}
    helps["env"] = ENV_HELP
    if any(a.name == "--color" for a in cmd.args):
        helps["colour"] = "the same as --color"
    return _EssayTask(_body(cmd), name=cmd.name.split()[-1], help=helps,
                positional=[_param(a) for a in cmd.args if a.positional and a.nargs is None])


def build_namespace() -> Collection:
    root = Collection()
    for cmd in COMMANDS:
        if cmd.name in ("create",):  # makes new projects: not a task of a project
            continue
        words = cmd.name.split()
        coll = root
        for word in words[:-1]:
            if word not in coll.collections:
                coll.add_collection(Collection(word))
            coll = coll.collections[word]
        if any(c.name.startswith(cmd.name + " ") for c in COMMANDS):
            # a command that is also a group (`es server`, `es server worker`): the
            # group's default task (`fab server`, `fab server.worker`)
            if words[-1] not in coll.collections:
                coll.add_collection(Collection(words[-1]))
            coll.collections[words[-1]].add_task(_task(cmd), name="run", default=True)
        else:
            coll.add_task(_task(cmd))
    return root


namespace = build_namespace()
