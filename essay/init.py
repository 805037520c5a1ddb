"""``es init``'s first part: essay's common files added to a project, never overwriting
one (:func:`init_project`; ``es create`` runs it on the project it makes). What follows
-- the checks and the version fix -- is :mod:`essay.initfix`.
"""
from __future__ import annotations

import configparser
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from essay.create import COMMON, CreateError, _check_package, package_for, templates_root, \
    validate_name

CONFIG_TEMPLATE = "essay.toml.j2"      # the one common file rendered at init time
STATE_LINE = ".essay/"                 # essay's local state; must never be committed


@dataclass
class InitResult:
    """What :func:`init_project` did: paths relative to the project, in POSIX form."""
    project: Path
    name: str
    package: str
    written: list[str] = field(default_factory=list)   # created (or, .gitignore, appended to)
    skipped: list[str] = field(default_factory=list)   # already there, left untouched


def detect_name(project: Path) -> str:
    """A project's name: ``[project] name`` in pyproject.toml, else ``[metadata] name`` in
    setup.cfg, else the directory name."""
    pyproject, setup_cfg = project / "pyproject.toml", project / "setup.cfg"
    try:
        if pyproject.is_file():
            name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
            if isinstance(name.get("name"), str) and name["name"]:
                return name["name"]
        if setup_cfg.is_file():
            parser = configparser.ConfigParser(interpolation=None)
            parser.read(setup_cfg, encoding="utf-8")
            if parser.get("metadata", "name", fallback="").strip():
                return parser.get("metadata", "name").strip()
    except (tomllib.TOMLDecodeError, configparser.Error) as e:
        raise CreateError(f"cannot read the project name in {project}: {e}; fix the file "
                          "or give the name explicitly") from None
    return project.resolve().name


def _ask(label: str, default: str) -> str:
    try:
        return input(f"{label} [{default}]: ").strip() or default
    except EOFError:
        return default


def _common_files(name: str, package: str, template: str = "") -> dict[str, bytes]:
    """Every common file, by project-relative path, with its content for this project
    (``template``: the one ``es create`` used, which may add essay.toml lines)."""
    import jinja2

    common = templates_root() / COMMON
    files = {}
    for src in sorted(common.rglob("*")):
        rel = src.relative_to(common).as_posix()
        if not src.is_file() or "__pycache__" in src.parts or src.suffix in (".pyc", ".pyo"):
            continue
        if rel == CONFIG_TEMPLATE:
            env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
            text = env.from_string(src.read_text(encoding="utf-8"))
            files["essay.toml"] = text.render(name=name, package=package,
                                             template=template).encode("utf-8")
        else:
            files[rel] = src.read_bytes()      # verbatim: .j2 files are rendered at deploy
    if "essay.toml" not in files:
        raise CreateError(f"{common / CONFIG_TEMPLATE} is missing; essay's installation is "
                          "incomplete -- reinstall it")
    return files


def ensure_gitignored(project: Path, line: str = STATE_LINE) -> bool:
    """Make the project's .gitignore ignore ``line``; True if the file was changed."""
    path = project / ".gitignore"
    data = path.read_bytes() if path.exists() else b""
    bare = line.strip("/")
    entries = {e.strip().strip("/") for e in data.decode("utf-8", "replace").splitlines()}
    if bare in entries:
        return False
    prefix = b"\n" if data and not data.endswith(b"\n") else b""
    with path.open("ab") as f:
        f.write(prefix + f"# essay's local state: index credentials and packages\n{line}\n"
                .encode("utf-8"))
    return True


def init_project(project_dir: str | os.PathLike, name: str | None = None,
                 package: str | None = None, no_input: bool = True,
                 template: str = "") -> InitResult:
    """Add essay's common files to ``project_dir`` without overwriting any file.

    ``name`` defaults to :func:`detect_name`, ``package`` to :func:`package_for` of the
    name; with ``no_input=False`` both are asked for, these as defaults. Existing files
    are reported in ``skipped``, new ones in ``written``; ``.gitignore`` gains ``.essay/``.
    """
    project = Path(project_dir)
    if not project.is_dir():
        raise CreateError(f"{project} is not a directory; run es init in your project, or "
                          "es create NAME for a new one")
    name = name or detect_name(project)
    if not no_input:
        name = _ask("project name", name)
    try:
        validate_name(name)
    except CreateError as e:
        raise CreateError(f"{project}: {e}") from None
    package = package or package_for(name)
    if not no_input:
        package = _ask("package name", package)
    _check_package(package)

    files = _common_files(name, package, template)   # all read before anything is written
    result = InitResult(project=project, name=name, package=package)
    for rel in sorted(files, key=lambda r: (r != "essay.toml", r)):
        dest = project / rel
        if dest.exists() or dest.is_symlink():
            result.skipped.append(rel)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(files[rel])
        result.written.append(rel)
    if ensure_gitignored(project):
        result.written.append(".gitignore")
    return result
