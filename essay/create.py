"""``es create`` makes a project from a template; ``es init`` adds essay's files to one.

:func:`create`, step by step:

1. Check everything first -- name, template, free target directory, git -- so a mistake
   writes nothing.
2. cookiecutter renders ``templates/<template>/`` (installed as the package
   ``essay.templates``) into a hidden staging directory beside the target.
3. :func:`essay.init.init_project` adds ``templates/common/``: ``essay.toml`` rendered from
   ``essay.toml.j2`` (Jinja2; ``name``, ``package``, ``template``: django adds its
   release and health_host), every other file (``fabfile.py``, ``conf/*.j2``) copied
   byte for byte -- the ``.j2`` files are rendered at deploy time.
4. ``git init -b main`` and a first commit, then one rename puts the project in place:
   a failure before this leaves nothing behind.
5. With a remote, ``git push -u origin main``; if that fails the project stays.

``es init`` is step 3 alone, on a project you have (:mod:`essay.init`); it never
overwrites a file.
"""
from __future__ import annotations

import keyword
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from essay.errors import EssayError

COMMON = "common"                      # templates/common: files every project gets
# Package names that would shadow what the generated app imports or is tested with.
_RESERVED = {"essay", "gunicorn", "flask", "django", "fabric", "invoke", "pytest", "tests"}
_EXAMPLE = "e.g. 'demo' or 'my-app'"


class CreateError(EssayError):
    """Creating or initialising a project failed; the message says what, where, and what
    to do. ``project`` is set when a project was created before the failure."""

    def __init__(self, message: str, project: Path | None = None):
        super().__init__(message)
        self.project = project


def package_for(name: str) -> str:
    """The import name of a project: ``My-App`` -> ``my_app``."""
    return name.lower().replace("-", "_")


def validate_name(name: str) -> str:
    """Check that ``name`` works as a distribution name and, via :func:`package_for`, as a
    Python package name. Returns it unchanged or raises :class:`CreateError` saying why."""
    if not isinstance(name, str) or not name.strip():
        raise CreateError(f"the project name is empty; give one, {_EXAMPLE}")
    bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "-_"))})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise CreateError(f"{name!r} is not a valid project name: it contains {shown}; use "
                          f"ASCII letters, digits, '-' and '_', {_EXAMPLE}")
    if not name[0].isalpha():
        raise CreateError(f"{name!r} is not a valid project name: it must start with a letter "
                          f"(its package name becomes a Python identifier), {_EXAMPLE}")
    package = package_for(name)
    if keyword.iskeyword(package):
        raise CreateError(f"{name!r} cannot be a project name: its package {package!r} is a "
                          f"Python keyword and cannot be imported; pick another, {_EXAMPLE}")
    if package in sys.stdlib_module_names or package in _RESERVED:
        raise CreateError(f"{name!r} cannot be a project name: its package {package!r} would "
                          f"shadow the module of that name; pick another, {_EXAMPLE}")
    return name


def _check_package(package: str) -> None:
    if not package.isidentifier() or keyword.iskeyword(package):
        raise CreateError(f"{package!r} is not a valid Python package name; use letters, "
                          "digits and '_', starting with a letter, e.g. 'my_app'")


def templates_root() -> Path:
    """The directory of the installed ``essay.templates`` package. A source checkout that
    was not installed has no such package; there the top-level ``templates/`` is used."""
    try:
        root = resources.files("essay.templates")
    except ModuleNotFoundError:
        root = Path(__file__).resolve().parent.parent / "templates"
        if not (root / COMMON).is_dir():
            raise CreateError("essay's templates are missing (no package essay.templates); "
                              "reinstall essay, e.g. pip install --force-reinstall essay") from None
    if not isinstance(root, Path):   # cookiecutter needs real files, not a zip entry
        raise CreateError(f"essay's templates are inside an archive ({root}); install essay "
                          "unpacked with pip")
    return root


def available_templates() -> list[str]:
    """Template names: the directories of essay.templates holding a cookiecutter.json."""
    root = templates_root()
    return sorted(p.name for p in root.iterdir() if (p / "cookiecutter.json").is_file())


def _run(args: list[str], cwd: Path, env: dict | None = None, check: bool = False):
    """Run a command quietly; with ``check``, a failure raises naming its last error line."""
    try:
        r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise CreateError(f"`{' '.join(args)}` in {cwd} took over 300s and was stopped; "
                          "check the network and try it by hand") from None
    if check and r.returncode:
        why = (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}").splitlines()[-1]
        raise CreateError(f"`{' '.join(args)}` failed in {cwd}: {why}")
    return r


def _git_identity(cwd: Path) -> list[str]:
    """``-c`` options that give git an identity, for the settings that are not configured."""
    flags = []
    for key, fallback in (("user.name", "essay"), ("user.email", "essay@localhost")):
        if not _run(["git", "config", key], cwd).stdout.strip():
            flags += ["-c", f"{key}={fallback}"]
    return flags


def create(name: str, template: str = "default", no_input: bool = True,
           output_dir: str | os.PathLike = ".", remote: str | None = None,
           extra_context: dict | None = None) -> Path:
    """Make a new project ``output_dir/name`` from ``template``; return its path.

    ``extra_context`` sets more template variables (``package_name``, ``description``,
    ``author``); with ``no_input=False`` cookiecutter asks for each, these as defaults.
    """
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.main import cookiecutter
    from jinja2 import TemplateError

    name = validate_name(name)
    templates = available_templates()
    if template not in templates:
        raise CreateError(f"unknown template {template!r}; available: {', '.join(templates)} "
                          "(e.g. --template flask)")
    context = {**(extra_context or {}), "project_name": name}
    if context.get("package_name"):
        _check_package(context["package_name"])
    out = Path(output_dir).expanduser().absolute()
    target = out / name
    if target.exists() or target.is_symlink():
        raise CreateError(f"{target} already exists; pick another name or --output-dir")
    if out.exists() and not out.is_dir():
        raise CreateError(f"--output-dir {out} is a file, not a directory")
    if shutil.which("git") is None:
        raise CreateError("git is not on PATH; install it (apt-get install git) and retry")
    if remote is not None and (not remote.strip() or remote.startswith("-")):
        raise CreateError(f"--remote {remote!r} is not a git URL; e.g. git@host:you/demo.git")
    if "author" not in context:   # the git identity is the best guess there is
        context["author"] = _run(["git", "config", "user.name"], Path.cwd()).stdout.strip()

    # Checks done: from here on things are written, first into a staging directory.
    made_out = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".essay-create-{name}-", dir=out))
    try:
        try:
            project = Path(cookiecutter(str(templates_root() / template), no_input=no_input,
                                        extra_context=context, output_dir=str(staging)))
        except (CookiecutterException, TemplateError) as e:
            raise CreateError(f"template {template!r} failed to render: {e}") from None
        final = out / validate_name(project.name)   # at a prompt the name may have changed
        if final.exists():
            raise CreateError(f"{final} already exists; pick another name or remove it first")
        for cache in list(project.rglob("__pycache__")):   # from an installed template
            shutil.rmtree(cache)
        package = next((p.parent.name for p in project.glob("*/_release.py")),
                       package_for(project.name))
        from essay.init import init_project

        init_project(project, name=project.name, package=package, template=template)
        for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                     [*_git_identity(project), "commit", "-q", "-m",
                      f"Create {project.name} from essay's {template} template"]):
            _run(["git", *args], project, check=True)
        project.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if made_out and not any(out.iterdir()):
            out.rmdir()
        raise
    staging.rmdir()

    if remote:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"} if no_input else None
        try:
            _run(["git", "remote", "add", "origin", remote], final, check=True)
            _run(["git", "push", "-u", "origin", "main"], final, env, check=True)
        except CreateError as e:
            raise CreateError(f"created {final}, but not pushed to {remote}: {e}; the project "
                              "is complete -- fix access and push again", project=final) from None
    return final


def cli_create(ctx, name: str, template: str = "default", no_input: bool = False,
               output_dir: str = ".", remote: str | None = None) -> int:
    """``es create``: the project's path on stdout, the next steps in the outcome line."""
    anonymous = [f.split("=")[0] for f in _git_identity(Path(ctx.cwd)) if "=" in f]
    project = create(name, template=template, no_input=no_input,
                     output_dir=Path(ctx.cwd) / output_dir, remote=remote)
    ctx.reporter.print(str(project))
    if anonymous:   # not silently: the first commit's author is made up
        ctx.reporter.warn(f"git has no {' or '.join(anonymous)}: the first commit is by "
                          "essay <essay@localhost>. Set yours (git config --global user.name "
                          "'...'; git config --global user.email ...), then in the project: "
                          "git commit --amend --reset-author --no-edit")
    pushed = f", pushed to {remote}" if remote else ""
    ctx.reporter.outcome(f"created {project.name} from the {template} template{pushed}; "
                         f"next: cd {project} && python -m pytest && es build")
    return 0
