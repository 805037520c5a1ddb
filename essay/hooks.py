"""Deploy hooks written in Python, registered in the project's fabfile.py.

Shell hooks come from essay.toml (``[deploy] pre_deploy`` / ``post_deploy``). A Python
hook is a function that *returns* the shell command(s) to run on each host -- so it
runs in the same single round trip as the rest of the deploy, in the colour's venv::

    from essay import hooks

    @hooks.post_deploy
    def warm(ctx):               # ctx: host, color, version, profile, name, package
        return f"python -m {ctx.package}.warm_cache --port $ESSAY_PORT"

Hooks run on every host; migrations go in ``[deploy] release`` (once per deploy).

A pre_deploy hook that fails stops that host's deploy before anything is installed.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

from essay.errors import EssayError

_REGISTRY: dict[str, list] = {"pre_deploy": [], "post_deploy": []}


def pre_deploy(func):
    _REGISTRY["pre_deploy"].append(func)
    return func


def post_deploy(func):
    _REGISTRY["post_deploy"].append(func)
    return func


def load(root: Path) -> dict[str, list]:
    """Import the project's fabfile.py (if any) so its hooks register; return them."""
    fabfile = Path(root) / "fabfile.py"
    if fabfile.exists() and "essay_project_fabfile" not in sys.modules:
        spec = importlib.util.spec_from_file_location("essay_project_fabfile", fabfile)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[spec.name]
            raise EssayError(f"{fabfile} cannot be loaded (it registers the deploy hooks): "
                             f"{type(e).__name__}: {e}") from None
    return {k: list(v) for k, v in _REGISTRY.items()}


def commands(registry: dict, kind: str, cfg, target) -> list[str]:
    """The shell commands the registered ``kind`` hooks return for one host."""
    ctx = SimpleNamespace(host=target.host, color=target.color, version=target.version,
                          profile=target.profile, name=cfg.name, package=cfg.package)
    out = []
    for func in registry.get(kind, []):
        name = f"{kind} hook {getattr(func, '__name__', func)!s} (fabfile.py)"
        try:
            result = func(ctx)
        except Exception as e:
            raise EssayError(f"{name} failed on {target.host}: {type(e).__name__}: {e}") \
                from None
        if isinstance(result, str):
            out.append(result)
        elif isinstance(result, (list, tuple)) and all(isinstance(r, str) for r in result):
            out.extend(result)
        elif result is not None:
            raise EssayError(f"{name} returned {result!r}; it must return a shell command "
                             "(a string), a list of them, or None")
    return out
