"""``es init`` on a real project: what would fail, said before the first build, and the
one fix essay can make itself -- the version from ``[build] version_file``.

The checks are :mod:`essay.projectcheck`'s (shared with ``es doctor``); this module turns
the version problem into edits: a ``_release.py`` with the placeholders ``es build``
stamps, and in pyproject.toml ``dynamic = ["version"]`` instead of a fixed version plus
``[tool.setuptools.dynamic] version = {attr = "PKG._release.version"}``. The edits are
text edits of the few lines involved (the rest of the file is kept byte for byte), made
only for a setuptools pyproject, and only when asked (``--fix``, or yes at the prompt).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from essay.projectcheck import module_of

RELEASE_FILE = '''\
# What this build is. `es build` rewrites this file in its temporary build tree (never in
# your working tree) with the real version, the git commit and the build time. Do not put
# a real version here by hand: the placeholder is what a source checkout reports.
version = "0.0.0+unreleased"
commit = ""
released = ""
'''


@dataclass
class Edit:
    """Files to write (path relative to the project -> new text), and what it does."""

    what: str
    files: dict[str, str] = field(default_factory=dict)


def dynamic_version(text: str, module: str) -> str | None:
    """pyproject.toml text with its fixed ``[project] version`` made dynamic, read from
    ``module.version``; None if it cannot be done safely (not setuptools, no [project],
    a version that is not one plain line, a [tool.setuptools.dynamic] of its own)."""
    data = tomllib.loads(text)
    backend = (data.get("build-system") or {}).get("build-backend", "")
    project = data.get("project")
    if not isinstance(project, dict) or not backend.startswith("setuptools"):
        return None
    if ((data.get("tool") or {}).get("setuptools") or {}).get("dynamic"):
        return None
    lines = text.splitlines(keepends=True)
    table, out, done = None, [], False
    for line in lines:
        header = re.match(r"^\s*\[\s*([^\]\s]+)\s*\]\s*(#.*)?$", line)
        if header:
            table = header.group(1)
        if table == "project" and re.match(r"^\s*version\s*=\s*(\"[^\"]*\"|'[^']*')\s*(#.*)?$",
                                           line):
            out.append('dynamic = ["version"]        # es build stamps '
                       f'{module.replace(".", "/")}.py\n')
            done = True
            continue
        out.append(line)
    if not done:
        return None
    new = "".join(out)
    if not new.endswith("\n"):
        new += "\n"
    new += f'\n[tool.setuptools.dynamic]\nversion = {{attr = "{module}.version"}}\n'
    data = tomllib.loads(new)   # still valid TOML, and it says what we meant
    assert data["project"].get("dynamic") == ["version"] and "version" not in data["project"]
    return new


def version_edit(root: Path, version_file: str) -> Edit | None:
    """The edit that makes the version come from ``version_file``, or None if there is
    nothing to do or it cannot be done automatically."""
    pyproject = root / "pyproject.toml"
    files = {}
    if not (root / version_file).exists() and (root / version_file).parent.is_dir():
        files[version_file] = RELEASE_FILE
    if pyproject.is_file():
        text = pyproject.read_text(encoding="utf-8")
        try:
            project = tomllib.loads(text).get("project") or {}
        except tomllib.TOMLDecodeError:
            return None
        if "version" in project and "version" not in (project.get("dynamic") or []):
            new = dynamic_version(text, module_of(version_file))
            if new is None:
                return None
            files["pyproject.toml"] = new
    if not files:
        return None
    return Edit(f"add {', '.join(sorted(files))}: the version from {version_file}, "
                "stamped by es build", files)


def apply(root: Path, edit: Edit) -> list[str]:
    for rel, text in edit.files.items():
        (root / rel).write_text(text, encoding="utf-8")
    return sorted(edit.files)


def _yes(question: str) -> bool:
    try:
        return input(f"{question} [y/N]: ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def cli_init(ctx, no_input: bool = False, fix: bool = False) -> int:
    """``es init``: essay's files into the project in the working directory, then what
    would fail at the first build or deploy, each with its fix; the version fix is made
    with ``--fix`` (or a yes at the prompt)."""
    from essay import config, projectcheck
    from essay.init import init_project
    from essay.errors import EssayError

    rep = ctx.reporter
    result = init_project(ctx.cwd, no_input=no_input)
    for rel in result.written:
        rep.info(f"wrote   {rel}")
    for rel in result.skipped:
        rep.info(f"skipped {rel} (exists; not overwritten)")
    root = Path(result.project)
    try:
        cfg = config.load(path=root / config.FILENAME)
    except EssayError as e:   # an essay.toml of its own that does not load: say so, stop
        rep.warn(f"{e}; fix essay.toml, then es init again (or es doctor)")
        return 1
    edit = version_edit(root, cfg.version_file)
    if edit and (fix or (not no_input and _yes(f"es init can {edit.what}. Do it?"))):
        for rel in apply(root, edit):
            rep.info(f"changed {rel}")
        edit = None
    problems = projectcheck.check(root, cfg.package, cfg.version_file, app=cfg.app)
    for p in problems:
        rep.warn(f"{p.what}\n  fix: {p.fix}")
    if edit:
        rep.warn(f"`es init --fix` can {edit.what}")
    tail = (f"{len(problems)} problem(s) to fix before es build (above)" if problems
            else "review essay.toml, then es build")
    rep.outcome(f"essay files for {result.name} (package {result.package}): "
                f"{len(result.written)} written, {len(result.skipped)} skipped; {tail}")
    return 0
