"""Environments: ``[env.NAME]`` tables deep-merged over the top level, and which one is
chosen (``es -e NAME``, ``ESSAY_ENV``, ``default_env``).

``[env.staging.roles]`` replaces keys of ``[roles]``, ``[env.production.deploy] processes
= 8`` one key of ``[deploy]``: a table merges into a table key by key, any other value
(a string, a number, a list) replaces the top-level one. A project without ``[env.*]`` is
read exactly as before.

Each environment keeps its own state on its lb hosts: its state directory is the
resolved ``[nginx] state_dir`` plus ``/NAME`` (live colour, lock and history apart).
"""
from __future__ import annotations

import dataclasses
import os
import re

from essay.config.reader import ConfigError

ENV_VAR = "ESSAY_ENV"
_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
EXPECTED = "a lowercase name of letters, digits, '-' and '_', starting with a letter"


def merge(base: dict, override: dict, where: str = "") -> dict:
    """``override`` deep-merged over ``base`` (neither is changed): tables merge key by
    key; a table meeting a non-table (either way) is an error naming the key."""
    out = dict(base)
    for key, value in override.items():
        here = f"{where}.{key}" if where else key
        if key in base and isinstance(base[key], dict) != isinstance(value, dict):
            kind = lambda v: "a table" if isinstance(v, dict) else "a value"  # noqa: E731
            raise ConfigError(f"[env.{here}] is {kind(value)}, but [{here.split('.', 1)[-1]}] "
                              f"at the top level is {kind(base[key])}")
        out[key] = merge(base[key], value, here) if isinstance(value, dict) and key in base \
            else value
    return out


def names(data: dict, path=None) -> tuple[str, ...]:
    """The environment names ``[env.*]`` defines, in file order (checked)."""
    envs = data.get("env", {})
    if not isinstance(envs, dict):
        raise ConfigError(f"{path}: [env] is {envs!r}, expected tables such as [env.staging]")
    for name, table in envs.items():
        if not _ENV_NAME.fullmatch(name):
            raise ConfigError(f"{path}: [env.{name}] is not a valid environment name, "
                              f"expected {EXPECTED}")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [env] {name} is {table!r}, expected a table "
                              f"[env.{name}]")
        for key in ("env", "default_env"):
            if key in table:
                raise ConfigError(f"{path}: [env.{name}] {key} is not allowed, expected it "
                                  "at the top level only")
    return tuple(envs)


def choose(data: dict, env: str | None, path=None) -> str | None:
    """The chosen environment: ``env``, else ``$ESSAY_ENV``, else ``default_env``; None
    if the project has none, or has some and none was chosen. An unknown name is refused
    with the list."""
    known = names(data, path)
    default = data.get("default_env")
    if default is not None and (not isinstance(default, str) or default not in known):
        raise ConfigError(f"{path}: default_env is {default!r}, expected one of the "
                          f"environments: {', '.join(known) or 'none ([env.NAME] defines one)'}")
    chosen, source = env, "-e/--env"
    if not chosen:
        chosen, source = os.environ.get(ENV_VAR) or None, ENV_VAR
    if not chosen:
        chosen, source = default, "default_env"
    if chosen is None:
        return None
    if chosen not in known:
        if not known:
            raise ConfigError(f"{source} is {chosen!r}, but {path} defines no environments "
                              "([env.NAME] tables)")
        raise ConfigError(f"{source} is {chosen!r}, expected one of the environments in "
                          f"{path}: {', '.join(known)}")
    return chosen


def resolve(data: dict, env: str | None, path=None) -> tuple[dict, str | None, tuple]:
    """The top-level tables with the chosen environment merged in: (data, env, names)."""
    known = names(data, path)
    chosen = choose(data, env, path)
    base = {k: v for k, v in data.items() if k not in ("env", "default_env")}
    if chosen is not None:
        base = merge(base, data["env"][chosen], chosen)
    return base, chosen, known


def apply(cfg, env: str | None, known: tuple):
    """``cfg`` with its environment recorded and its lb state directory apart."""
    if env is None:
        return dataclasses.replace(cfg, env=None, env_names=known)
    return dataclasses.replace(cfg, env=env, env_names=known,
                               nginx_state_dir=f"{cfg.nginx_state_dir.rstrip('/')}/{env}")


def require(cfg) -> None:
    """Refuse to touch hosts when the project has environments and none is chosen."""
    if cfg.env_names and cfg.env is None:
        raise ConfigError(f"{cfg.path} defines environments ({', '.join(cfg.env_names)}): "
                          f"choose one with `es -e NAME`, {ENV_VAR}=NAME, or default_env")
