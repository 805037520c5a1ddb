"""Is the project buildable and servable? Pure checks of its files, no import, no network.

Both ``es doctor`` and ``es init`` call :func:`check` with essay.toml's ``[deploy] app``;
each :class:`Problem` says what is wrong and how to fix it. Checked, in order:

1. packaging metadata: a ``pyproject.toml`` (valid TOML) or a ``setup.py``/``setup.cfg``;
2. the version comes from ``[build] version_file``: its directory exists (``es build``
   stamps the file there) and the version is not fixed -- a pyproject's is dynamic, read
   from that module; a setup.py's ``version=`` / setup.cfg's ``version`` is not a literal;
3. the entry point the server serves: ``[deploy] app`` when the supervisord template
   uses ``{{ app }}`` (essay's built-in one does), else the one the project's own
   ``conf/supervisord.conf.j2`` writes on its gunicorn line (a template made before
   ``[deploy] app`` existed ignores the key): its module file exists and defines the name.

The server (gunicorn) need not be a dependency: essay installs ``[deploy] server``'s
packages into every colour.
"""
from __future__ import annotations

import ast
import configparser
import tomllib
from dataclasses import dataclass
from pathlib import Path

from essay.conf_check import template_entry, uses

DEFAULT_ENTRY = "{package}.wsgi:application"


@dataclass(frozen=True)
class Problem:
    what: str   # what is wrong, one line
    fix: str    # how to fix it, one line

    def __str__(self) -> str:
        return f"{self.what}; fix: {self.fix}"


def module_of(version_file: str) -> str:
    """``demo/_release.py`` -> ``demo._release`` (``src/`` layouts: ``src/`` dropped)."""
    return version_file.removesuffix(".py").replace("/", ".").removeprefix("src.")


def entry_point(root: Path, package: str, app: str | None = None) -> tuple[str, str]:
    """(module, attribute) the server serves: ``app`` (``[deploy] app``; None: the default
    ``PACKAGE.wsgi:application``) unless the project's own conf/supervisord.conf.j2 does
    not use ``{{ app }}`` and names an entry point of its own on its gunicorn line."""
    return _entry(root, package, app)[:2]


def _entry(root: Path, package: str, app: str | None) -> tuple[str, str, bool]:
    """:func:`entry_point`, and whether it came from the project's template."""
    conf = root / "conf" / "supervisord.conf.j2"
    text = conf.read_text(encoding="utf-8", errors="replace") if conf.is_file() else ""
    own = template_entry(text, package) if text and not uses(text, "app") else None
    module, _, attr = (own or app or DEFAULT_ENTRY.format(package=package)).partition(":")
    return module, attr.removesuffix("()"), own is not None


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


def setup_fixed_version(setup_py: Path, setup_cfg: Path) -> str | None:
    """The literal version a setup.py (``setup(version="1.0")``) or setup.cfg
    (``[metadata] version = 1.0``) fixes, or None (none, or computed: cannot tell)."""
    if setup_py.is_file():
        try:
            tree = ast.parse(setup_py.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            tree = None
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.Call) and getattr(node.func, "id",
                                                      getattr(node.func, "attr", "")) == "setup":
                for kw in node.keywords:
                    if kw.arg == "version" and isinstance(kw.value, ast.Constant) \
                            and isinstance(kw.value.value, str):
                        return kw.value.value
    if setup_cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(setup_cfg.read_text(encoding="utf-8", errors="replace"))
        except configparser.Error:
            return None
        version = parser.get("metadata", "version", fallback="").strip()
        if version and not version.startswith(("attr:", "file:")):
            return version
    return None


def check(root: Path, package: str, version_file: str, app: str | None = None) -> list[Problem]:
    """Every problem found in the project at ``root`` (empty: buildable). ``app``: essay.toml's
    ``[deploy] app`` (see :func:`entry_point` for when the template's own entry wins)."""
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
    else:
        fixed = setup_fixed_version(setup_py, setup_cfg)
        if fixed is not None:
            problems.append(Problem(
                f"setup.py/setup.cfg has a fixed version ({fixed!r}): es build's version "
                "would be ignored", f"remove version= from setup() (and from setup.cfg), "
                f"and put in setup.cfg: [metadata] version = attr: {module_of(version_file)}"
                ".version"))

    module, name, own = _entry(root, package, app)
    path = _module_file(root, module)
    if path is None:
        problems.append(Problem(
            f"the WSGI entry point {module}:{name} has no module file "
            f"({module.replace('.', '/')}.py)", f"add {module.replace('.', '/')}.py defining "
            f"{name}, or " + ("change the entry point on the gunicorn line of "
                              "conf/supervisord.conf.j2 (it does not use {{ app }})" if own else
                              'set [deploy] app = "module:callable" in essay.toml')))
    else:
        found = _defines(path, name)
        if found is None:
            problems.append(Problem(f"{path.relative_to(root)} does not parse as Python",
                                    "fix its syntax"))
        elif not found:
            problems.append(Problem(f"{path.relative_to(root)} does not define {name!r} "
                                    f"(gunicorn serves {module}:{name})",
                                    f"define {name} there, e.g. `{name} = app`"))
    return problems
