"""What lives on a web host for secrets and the process environment (pure builders).

    {prefix}/secrets.env          NAME=BASE64 lines, mode 0600: the environment's secrets
    {prefix}/{colour}/bin/essay-exec   the wrapper (essay-exec.sh): exports both files, execs
    {prefix}/{colour}/etc/essay.env    ESSAY_COLOR, ESSAY_VERSION, ESSAY_ENV, ESSAY_PROFILE
    {prefix}/{colour}/gunicorn.conf.py a post_fork hook (gunicorn_conf.py): a reloaded
                                       gunicorn's new workers read both files again

Everything that runs the project's code on a host goes through the wrapper: the
supervisord programs (``{{ essay_exec }}`` in conf/supervisord.conf.j2), deploy hooks,
and any other command essay runs in a colour (:func:`exec_line`).
"""
from __future__ import annotations

import base64
import re
from importlib import resources

from essay.errors import UsageError
from essay.remote.shell import cmd, qpath, write_file, write_if_changed

WRAPPER = "essay-exec"
SECRETS_FILE = "secrets.env"
NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def wrapper_text() -> str:
    return resources.files("essay.secrets").joinpath("essay-exec.sh").read_text()


def gunicorn_hook_text() -> str:
    return resources.files("essay.secrets").joinpath("gunicorn_conf.py").read_text()


def secrets_path(cfg) -> str:
    return f"{cfg.prefix.rstrip('/')}/{SECRETS_FILE}"


def exec_path(cfg, color: str) -> str:
    """The wrapper of one colour (``~`` kept: quote with :func:`qpath`)."""
    return f"{cfg.color_dir(color)}/bin/{WRAPPER}"


def exec_line(cfg, color: str, *argv: str) -> str:
    """Shell text running ``argv`` in ``color`` through the wrapper (every word quoted)."""
    return f"{qpath(exec_path(cfg, color))} {cmd(*argv)}"


def encode(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def env_lines(values: dict[str, str]) -> str:
    return "".join(f"{k}={encode(v)}\n" for k, v in values.items())


def colour_env(cfg, color: str, version: str, profile: str) -> dict[str, str]:
    return {"ESSAY_COLOR": color, "ESSAY_VERSION": version, "ESSAY_ENV": cfg.env or "",
            "ESSAY_PROFILE": profile}


def install(cfg, color: str, version: str, profile: str) -> str:
    """Shell text (for deploy's prepare step) installing the wrapper and essay.env."""
    d = cfg.color_dir(color)
    return "\n".join([
        write_file(exec_path(cfg, color), wrapper_text(), mode="755"),
        write_file(f"{d}/etc/essay.env", env_lines(colour_env(cfg, color, version, profile)),
                   mode="600"),
        # rewritten only when it changed: a gunicorn master started after it has read it
        # (essay/deploy/supervise.py reloads only such a master)
        write_if_changed(f"{d}/gunicorn.conf.py", gunicorn_hook_text())])


def check_name(name: str) -> str:
    """A secret's name: ``[A-Z_][A-Z0-9_]*``, not ``ESSAY_*`` (essay's own)."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UsageError(f"secret name {name!r} is not valid: expected uppercase letters, "
                         "digits and '_', not starting with a digit (e.g. SECRET_KEY)")
    if name.startswith("ESSAY_"):
        raise UsageError(f"secret name {name!r} is reserved: ESSAY_* names are essay's own "
                         "(ESSAY_COLOR, ESSAY_VERSION, ...); pick another")
    return name
