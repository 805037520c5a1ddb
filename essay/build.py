"""``es build``: a git ref becomes a versioned sdist + wheel on the private index.

1. resolve the ref (refused before anything else if it does not exist);
2. ``git archive`` it into a clean temporary tree -- the working tree, the index and the
   branches are never touched; uncommitted changes are not part of the build (it says so);
3. stamp version, commit sha and release time into ``[build] version_file`` (default
   ``<package>/_release.py``) *in the temporary tree*;
4. build the sdist, then the wheel from the sdist, in one isolated environment
   (``build``); ``twine check`` both;
5. upload both with twine (unless ``--no-upload``); they stay in ``.essay/dist/<version>``.

Progress goes to stderr; the last line of stdout is the version and nothing else.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from essay import versions
from essay.config import STATE_DIR
from essay.errors import EssayError, UsageError


def git(root: Path, *args, check=True) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise EssayError(f"git {' '.join(args)} failed in {root}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def resolve_ref(root: Path, ref: str) -> str:
    if ref.startswith("-"):
        raise UsageError(f"{ref!r} is not a git ref")
    proc = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet",
                           f"{ref}^{{commit}}"], capture_output=True, text=True)
    if proc.returncode != 0:
        if not (root / ".git").exists() and git(root, "rev-parse", "--git-dir", check=False) == "":
            raise EssayError(f"{root} is not a git repository; essay builds from git refs "
                             "(git init && git add -A && git commit)")
        raise UsageError(f"git ref {ref!r} does not exist in {root}; try a branch, tag or sha "
                         "(`git log --oneline` lists commits)")
    return proc.stdout.strip()


def export(root: Path, sha: str, dest: Path):
    """``git archive`` the commit into ``dest`` (honours export-ignore)."""
    archive = subprocess.Popen(["git", "-C", str(root), "archive", "--format=tar", sha],
                               stdout=subprocess.PIPE)
    with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
        tar.extractall(dest, filter="data")
    if archive.wait() != 0:
        raise EssayError(f"git archive {sha} failed in {root}")


def stamp(tree: Path, version_file: str, version: str, sha: str, released: str):
    target = tree / version_file
    if not target.parent.is_dir():
        raise EssayError(f"cannot stamp the version: {version_file} has no directory "
                         f"{target.parent.relative_to(tree)} in the build tree; set "
                         "[build] version_file in essay.toml to a module in your package")
    target.write_text(
        "# Written by `es build` into its temporary build tree.\n"
        f"version = {version!r}\ncommit = {sha!r}\nreleased = {released!r}\n")


def _runner(cmd, cwd=None, extra_environ=None):
    """Run a build backend hook quietly; on failure show the backend's own output."""
    import os

    env = os.environ.copy()
    env.update(extra_environ or {})
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-25:])
        raise EssayError(f"the project's build backend failed:\n{tail}")


def build_dists(tree: Path, outdir: Path, reporter) -> list[Path]:
    """sdist, then wheel from the sdist, in one isolated environment."""
    import build
    from build.env import DefaultIsolatedEnv

    installer = "uv" if shutil.which("uv") else "pip"
    try:
        with DefaultIsolatedEnv(installer=installer) as env:
            builder = build.ProjectBuilder.from_isolated_env(env, tree, runner=_runner)
            env.install(builder.build_system_requires)
            env.install(builder.get_requires_for_build("sdist"))
            reporter.info("building sdist")
            sdist = Path(builder.build("sdist", outdir))
            with tempfile.TemporaryDirectory(prefix="essay-sdist-") as tmp:
                with tarfile.open(sdist) as tar:
                    tar.extractall(tmp, filter="data")
                unpacked = next(Path(tmp).iterdir())
                wheel_builder = build.ProjectBuilder.from_isolated_env(env, unpacked,
                                                                       runner=_runner)
                env.install(wheel_builder.get_requires_for_build("wheel"))
                reporter.info("building wheel from the sdist")
                wheel = Path(wheel_builder.build("wheel", outdir))
    except build.BuildException as e:
        raise EssayError(f"the project cannot be built: {e}") from None
    except build.BuildBackendException as e:
        raise EssayError(f"the project's build backend failed: {e.exception}") from None
    return [sdist, wheel]


def check_dists(dists, reporter):
    from twine.commands.check import check

    out = _Capture()
    with contextlib.redirect_stdout(out):
        failed = check([str(d) for d in dists])
    if failed:
        raise EssayError(f"twine check found problems:\n{out.text.strip()}")


class _Capture:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s
        return len(s)

    def flush(self):
        pass

    def isatty(self):
        return False


def upload(cfg, dists, reporter):
    """Both files to the index with twine; 401/409 become clear messages."""
    import requests
    from twine.commands.upload import upload as twine_upload
    from twine.exceptions import TwineException
    from twine.settings import Settings

    from essay.pypi import saved_credentials

    user, password = saved_credentials(cfg)
    settings = Settings(repository_url=cfg.upload_url, username=user, password=password,
                        non_interactive=True, disable_progress_bar=True)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            twine_upload(settings, [str(d) for d in dists])
    except requests.HTTPError as e:
        code = e.response.status_code if e.response is not None else "?"
        creds = ("the index refused the credentials ({}); for the embedded index they are "
                 "in .essay/credentials.json, else set TWINE_USERNAME/TWINE_PASSWORD")
        hint = {401: creds.format(401), 403: creds.format(403),
                409: "this version is already on the index (409 Conflict); build a new "
                     "version (a new N, or --version/--label)"}.get(code, f"HTTP {code}")
        raise EssayError(f"upload to {cfg.upload_url} failed: {hint}") from None
    except requests.ConnectionError:
        raise EssayError(f"upload to {cfg.upload_url} failed: the index is unreachable; "
                         "is it running? (`es pypi serve`)") from None
    except TwineException as e:
        hint = ("; set TWINE_USERNAME and TWINE_PASSWORD, or add the index to ~/.pypirc"
                if "not found" in str(e).lower() else "")
        raise EssayError(f"upload to {cfg.upload_url} failed: {e}{hint}") from None


def cli_build(ctx, ref="HEAD", version=None, label=None, no_upload=False) -> int:
    ctx.reporter.print(build(ctx, ref, version, label, no_upload))
    return 0


def build(ctx, ref="HEAD", version=None, label=None, no_upload=False) -> str:
    """Build (and upload) ``ref``; returns the version built."""
    cfg, rep = ctx.cfg, ctx.reporter
    if label:
        versions.check_label(label)
    if version:
        from essay.validate import check_version

        check_version(version)
    sha = resolve_ref(cfg.root, ref)
    if git(cfg.root, "status", "--porcelain", check=False):
        rep.warn("the working tree has uncommitted changes; they are not part of the build "
                 f"(building {ref} = {sha[:12]})")
    existing = [] if version and no_upload else versions.on_index(cfg.index_url, cfg.name)
    chosen = versions.choose(existing, version, label)
    if any(str(v) == chosen for v in existing):
        raise EssayError(f"{cfg.name} {chosen} is already on the index {cfg.index_url}; "
                         "give another --version or --label")
    rep.info(f"building {cfg.name} {chosen} from {ref} ({sha[:12]})")
    outdir = cfg.root / STATE_DIR / "dist" / chosen
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    released = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="essay-build-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        export(cfg.root, sha, tree)
        stamp(tree, cfg.version_file, chosen, sha, released)
        dists = build_dists(tree, outdir, rep)
    got = {versions.versions_in([d.name], cfg.name)[0] if versions.versions_in([d.name], cfg.name)
           else None for d in dists}
    if got != {versions.Version(chosen)}:
        raise EssayError(f"the built files {[d.name for d in dists]} do not carry version "
                         f"{chosen}: the project's metadata must take its version from "
                         f"{cfg.version_file} (docs/build.md)")
    check_dists(dists, rep)
    if no_upload:
        rep.info(f"not uploaded; the files are in {outdir}")
    else:
        rep.info(f"uploading to {cfg.upload_url}")
        upload(cfg, dists, rep)
    rep.outcome(f"built {cfg.name} {chosen}" + ("" if no_upload else f", on {cfg.index_url}"))
    return chosen
