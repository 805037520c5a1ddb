"""The command table, the es parser and the fab tasks agree with the handlers."""
import inspect

import pytest

from essay.cli import build_parser, main
from essay.commands import COMMANDS, resolve


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_handler_takes_every_option(cmd):
    params = inspect.signature(resolve(cmd.handler)).parameters
    assert list(params)[0] == "ctx"
    for arg in cmd.args:
        assert arg.dest in params, f"{cmd.handler} lacks {arg.dest}"
    required = [p for p in list(params)[1:] if params[p].default is inspect.Parameter.empty]
    assert set(required) <= {a.dest for a in cmd.args}


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_help_for_every_command(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([*cmd.name.split(), "--help"])
    assert e.value.code == 0
    assert cmd.help.split()[0] in capsys.readouterr().out


def test_unknown_command_and_bad_flag_are_one_line_errors(capsys):
    for argv in (["bogus"], ["flip", "--nope", "a"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("es: error:") and "usage:" in err


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("essay ")


def test_fab_tasks_mirror_the_table():
    from essay.fabtasks import namespace

    names = set(namespace.task_names)
    for cmd in COMMANDS:
        if cmd.name != "create":
            dotted = cmd.name.replace(" ", ".")
            # a command that is also a group is its collection's default task
            assert dotted in names or (f"{dotted}.run" in names and namespace[dotted])
    assert build_parser()
