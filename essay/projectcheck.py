"""Is the project buildable and servable? Pure checks of its files, no import, no network.

Both ``es doctor`` and ``es init`` call :func:`check`; each :class:`Problem` says what is
wrong and how to fix it. Checked, in order:

1. packaging metadata: a ``pyproject.toml`` (valid TOML) or a ``setup.py``/``setup.cfg``;
2. the version comes from ``[build] version_file``: its directory exists (``es build``
   stamps the file there) and a pyproject's version is dynamic, read from that module;
3. the WSGI entry point gunicorn serves (from ``conf/supervisord.conf.j2``, default
   ``PACKAGE.wsgi:application``): its module file exists and defines the name;
4. gunicorn is among the runtime dependencies -- only without ``server_installed``;
   ``es doctor`` and ``es init`` pass it (essay installs the server into every colour).
"""
from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ENTRY = "{package}.wsgi:application"
_GUNICORN_ENTRY = re.compile(r"gunicorn\b.*?\s([A-Za-z_][\w.]*):([A-Za-z_]\w*)\s*$", re.M)


@dataclass(frozen=True)
class Problem:
    what: str   # what is wrong, one line
    fix: str    # how to fix it, one line

    def __str__(self) -> str:
        return f"{self.what}; fix: {self.fix}"


def module_of(version_file: str) -> str:
    """``demo/_release.py`` -> ``demo._release`` (``src/`` layouts: ``src/`` dropped)."""
    return version_file.removesuffix(".py").replace("/", ".").removeprefix("src.")


def entry_point(root: Path, package: str) -> tuple[str, str]:
    """(module, attribute) gunicorn serves, read from conf/supervisord.conf.j2."""
    conf = root / "conf" / "supervisord.conf.j2"
    text = conf.read_text(encoding="utf-8", errors="replace") if conf.is_file() else ""
    m = _GUNICORN_ENTRY.search(text.replace("{{ package }}", package))
    if m:
        return m.group(1), m.group(2)
    module, _, attr = DEFAULT_ENTRY.format(package=package).partition(":")
    return module, attr


def _module_file(root: Path, module: str) -> Path | None:
    rel = Path(*module.split("."))
    for base in (root, root / "src"):
        for p in (base / rel.with_suffix(".py"), base / rel / "__init__.py"):
            if p.is_file():
                return p
    return None


def _defines(path: Path, name: str) -> bool | None:
    """Does the module's top level bind ``name``? None: it does not parse."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node.name == name:
            return True
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t for tgt in node.targets for t in ast.walk(tgt)]
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                (a.asname or a.name.split(".")[0]) == name or a.name == "*"
                for a in node.names):
            return True
    return False


def _requirement_names(deps) -> set[str]:
    from packaging.requirements import InvalidRequirement, Requirement

    names = set()
    for d in deps if isinstance(deps, list) else []:
        try:
            names.add(Requirement(str(d)).name.lower().replace("_", "-"))
        except InvalidRequirement:
            continue
    return names


def check(root: Path, package: str, version_file: str, app: str | None = None,
          server_installed: bool = False) -> list[Problem]:
    """Every problem found in the project at ``root`` (empty: buildable). ``app``: the
    entry point essay.toml names (``[deploy] app``) instead of the one the supervisord
    template's gunicorn line names; ``server_installed``: essay installs the server into
    every colour itself (``[deploy] server``), so it need not be a dependency."""
    root = Path(root)
    problems: list[Problem] = []
    pyproject, setup_py, setup_cfg = (root / n for n in ("pyproject.toml", "setup.py",
                                                          "setup.cfg"))
    meta: dict = {}
    if pyproject.is_file():
        try:
            meta = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            problems.append(Problem(f"pyproject.toml is not valid TOML ({e})",
                                    "correct pyproject.toml"))
            return problems   # the other checks read it
    elif not (setup_py.is_file() or setup_cfg.is_file()):
        problems.append(Problem(f"no pyproject.toml or setup.py in {root}: nothing to build",
                                "add a pyproject.toml (see docs/build.md)"))
        return problems
    project = meta.get("project") if isinstance(meta.get("project"), dict) else {}

    vdir = (root / version_file).parent
    if not vdir.is_dir():
        problems.append(Problem(
            f"[build] version_file {version_file!r}: directory {vdir.relative_to(root)}/ "
            "does not exist", "set [build] version_file in essay.toml to a module in your "
            "package, e.g. \"PACKAGE/_release.py\""))
    if project:
        module = module_of(version_file)
        attr = ((meta.get("tool") or {}).get("setuptools") or {}).get("dynamic", {}) \
            .get("version", {})
        attr = attr.get("attr", "") if isinstance(attr, dict) else ""
        if "version" not in (project.get("dynamic") or []):
            problems.append(Problem(
                "pyproject.toml [project] has a fixed version: es build's version would be "
                "ignored", f'set dynamic = ["version"] and [tool.setuptools.dynamic] '
                f'version = {{attr = "{module}.version"}}'))
        elif attr and not attr.startswith(module + "."):
            problems.append(Problem(
                f"pyproject.toml takes the version from {attr!r}, not from [build] "
                f"version_file {version_file!r}", f'set version = {{attr = "{module}.version"}} '
                "in [tool.setuptools.dynamic], or change [build] version_file"))

    module, name = app.partition(":")[::2] if app else entry_point(root, package)
    name = name.removesuffix("()")
    path = _module_file(root, module)
    if path is None:
        problems.append(Problem(f"the WSGI entry point {module}:{name} has no module file "
                                f"({module.replace('.', '/')}.py)",
                                f"add {module.replace('.', '/')}.py defining {name}, or set "
                                '[deploy] app = "module:callable" in essay.toml'))
    else:
        found = _defines(path, name)
        if found is None:
            problems.append(Problem(f"{path.relative_to(root)} does not parse as Python",
                                    "fix its syntax"))
        elif not found:
            problems.append(Problem(f"{path.relative_to(root)} does not define {name!r} "
                                    f"(gunicorn serves {module}:{name})",
                                    f"define {name} there, e.g. `{name} = app`"))

    if server_installed:
        pass
    elif project:
        if "dependencies" in (project.get("dynamic") or []):
            pass   # declared elsewhere (requirements file): cannot tell without building
        elif "gunicorn" not in _requirement_names(project.get("dependencies")):
            problems.append(Problem("gunicorn is not among the runtime dependencies: the "
                                    "hosts' venvs would have no server",
                                    'add "gunicorn>=21.2" to [project] dependencies'))
    else:
        text = "".join(p.read_text(encoding="utf-8", errors="replace")
                       for p in (setup_py, setup_cfg) if p.is_file())
        if "gunicorn" not in text:
            problems.append(Problem("gunicorn is not among the runtime dependencies "
                                    "(setup.py/setup.cfg)",
                                    "add gunicorn to install_requires"))
    return problems
