"""``es build``: a git ref becomes a versioned sdist + wheel on the private index.

1. resolve the ref (refused before anything else if it does not exist);
2. ``git archive`` it into a clean temporary tree -- the working tree, the index and the
   branches are never touched; uncommitted changes are not part of the build (it says so);
3. stamp version, commit sha and release time into ``[build] version_file`` (default
   ``<package>/_release.py``) *in the temporary tree*;
4. build the sdist, then the wheel from the sdist, in one isolated environment
   (``build``); ``twine check`` both;
5. upload both with twine (unless ``--no-upload``); they stay in ``.essay/dist/<version>``.
   A failure at any step leaves no files behind (and keeps an earlier build's).

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
from essay.config import STATE_DIR, redact_url
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


def _extract(tar: tarfile.TarFile, dest) -> None:
    """``extractall`` with the ``data`` filter where tarfile has it (3.11.4+; Debian 12's
    3.11.2 has not: there, git's and our own build's archives are trusted as they are)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
    else:
        tar.extractall(dest)


def export(root: Path, sha: str, dest: Path):
    """``git archive`` the commit into ``dest`` (honours export-ignore)."""
    archive = subprocess.Popen(["git", "-C", str(root), "archive", "--format=tar", sha],
                               stdout=subprocess.PIPE)
    with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
        _extract(tar, dest)
    if archive.wait() != 0:
        raise EssayError(f"git archive {sha} failed in {root}")


def stamp(tree: Path, version_file: str, version: str, sha: str, released: str):
    target = tree / version_file
    if not target.resolve().is_relative_to(tree.resolve()):
        raise EssayError(f"cannot stamp the version: {version_file} is outside the project")
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
        raise EssayError(f"the project's build backend failed:\n{backend_error(proc.stdout)}")


def backend_error(output: str, lines: int = 25) -> str:
    """The backend's own messages without the stack frames of its traceback: what the
    backend said, and the exception's text (``ValueError: invalid pyproject.toml ...``)."""
    kept, in_frames = [], False
    for line in output.strip().splitlines():
        if line.startswith("Traceback (most recent call last)"):
            in_frames = True
            continue
        if in_frames and (line.startswith(" ") or not line.strip()):
            continue   # a frame, its source line, or ^^^ markers
        in_frames = False
        kept.append(line)
    return "\n".join(kept[-lines:]).strip() or output.strip()[-2000:]


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
                    _extract(tar, tmp)
                unpacked = next(Path(tmp).iterdir())
                wheel_builder = build.ProjectBuilder.from_isolated_env(env, unpacked,
                                                                       runner=_runner)
                env.install(wheel_builder.get_requires_for_build("wheel"))
                reporter.info("building wheel from the sdist")
                wheel = Path(wheel_builder.build("wheel", outdir))
    except build.BuildException as e:
        raise EssayError(f"the project cannot be built: {e}") from None
    except subprocess.CalledProcessError as e:   # the isolated env's installer failed
        said = e.stderr or e.stdout or b""
        said = said.decode("utf-8", "replace") if isinstance(said, bytes) else said
        tail = "\n".join(said.strip().splitlines()[-15:])
        raise EssayError(f"the project's build requirements could not be installed "
                         f"({installer} exited {e.returncode}):\n{tail}") from None
    except build.BuildBackendException as e:
        if isinstance(e.exception, EssayError):   # from _runner: already says it all
            raise e.exception from None
        raise EssayError(f"the project's build backend failed: {e}") from None
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


def upload_settings(cfg) -> dict:
    """Twine settings for the upload: TWINE_USERNAME/TWINE_PASSWORD if set; else the
    ~/.pypirc section naming the upload URL (its password or keyring); else the saved
    credentials of ``es pypi serve`` (.essay/credentials.json); else twine's keyring."""
    import os

    from essay.pypi.credentials import pypirc_repository, saved_credentials

    common = {"non_interactive": True, "disable_progress_bar": True}
    if not (os.environ.get("TWINE_USERNAME") or os.environ.get("TWINE_PASSWORD")):
        section = pypirc_repository(cfg.upload_url)
        if section:
            return {"repository_name": section, **common}
    user, password = saved_credentials(cfg)
    return {"repository_url": cfg.upload_url, "username": user, "password": password,
            **common}


def _already_exists(response) -> bool:
    """pypiserver answers 409, or 400 to twine (as PyPI does), when the file exists."""
    if response is None:
        return False
    if response.status_code == 409:
        return True
    text = f"{response.reason} {response.text[:2000]}".lower()
    return response.status_code == 400 and "already exist" in text


def upload(cfg, dists, reporter):
    """Both files to the index with twine; 401/403/409 become clear messages."""
    import requests
    from twine.commands.upload import upload as twine_upload
    from twine.exceptions import TwineException
    from twine.settings import Settings

    where = redact_url(cfg.upload_url)
    try:
        settings = Settings(**upload_settings(cfg))
        with contextlib.redirect_stdout(sys.stderr):
            twine_upload(settings, [str(d) for d in dists])
    except requests.HTTPError as e:
        code = e.response.status_code if e.response is not None else "?"
        creds = ("the index refused the credentials ({}); for an index run by `es pypi "
                 "serve` they are in .essay/credentials.json, else set TWINE_USERNAME/"
                 "TWINE_PASSWORD or add the index to ~/.pypirc")
        if _already_exists(e.response):
            hint = (f"this version is already on the index ({code}: a file of it exists); "
                    "build a new version (a new N, or --version/--label)")
        else:
            hint = {401: creds.format(401), 403: creds.format(403)}.get(
                code, f"HTTP {code} {getattr(e.response, 'reason', '')}".rstrip())
        raise EssayError(f"upload to {where} failed: {hint}") from None
    except requests.ConnectionError:
        raise EssayError(f"upload to {where} failed: the index is unreachable; "
                         "is it running? (`es pypi serve`)") from None
    except requests.RequestException as e:
        raise EssayError(f"upload to {where} failed: {type(e).__name__}") from None
    except TwineException as e:
        hint = ("; set TWINE_USERNAME and TWINE_PASSWORD, or add the index to ~/.pypirc"
                if "not found" in str(e).lower() else "")
        raise EssayError(f"upload to {where} failed: {e}{hint}") from None


def cli_build(ctx, ref="HEAD", version=None, label=None, no_upload=False) -> int:
    ctx.reporter.print(build(ctx, ref, version, label, no_upload))
    return 0


def build(ctx, ref="HEAD", version=None, label=None, no_upload=False) -> str:
    """Build (and upload) ``ref``; returns the version built."""
    cfg, rep = ctx.cfg, ctx.reporter
    if label is not None:
        versions.check_label(label)
    if version is not None:
        from essay.validate import check_version

        check_version(version)
    sha = resolve_ref(cfg.root, ref)
    if git(cfg.root, "status", "--porcelain", check=False):
        rep.warn("the working tree has uncommitted changes; they are not part of the build "
                 f"(building {ref} = {sha[:12]})")
    existing = ([] if version is not None and no_upload
                else versions.on_index(cfg.index_url, cfg.name))
    chosen = versions.choose(existing, version, label)
    if any(v == versions.Version(chosen) for v in existing):   # 1.0 is 1.0.0 to pip
        raise EssayError(f"{cfg.name} {chosen} is already on the index "
                         f"{redact_url(cfg.index_url)}; "
                         "give another --version or --label")
    rep.info(f"building {cfg.name} {chosen} from {ref} ({sha[:12]})")
    outdir = cfg.root / STATE_DIR / "dist" / chosen
    outdir.parent.mkdir(parents=True, exist_ok=True)
    # Built into a staging directory beside it, moved into place only when everything
    # (build, check, upload) succeeded: a failure leaves nothing behind and keeps the files
    # of an earlier build of the same version.
    staging = Path(tempfile.mkdtemp(prefix=f".{chosen}-", dir=outdir.parent))
    try:
        _build_into(cfg, rep, sha, chosen, staging, no_upload)
        if outdir.exists():
            shutil.rmtree(outdir)
        staging.rename(outdir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if no_upload:
        rep.info(f"not uploaded; the files are in {outdir}")
    rep.outcome(f"built {cfg.name} {chosen}"
                + ("" if no_upload else f", on {redact_url(cfg.index_url)}"))
    return chosen


def _build_into(cfg, rep, sha, chosen, outdir, no_upload):
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
    if not no_upload:
        rep.info(f"uploading to {redact_url(cfg.upload_url)}")
        upload(cfg, dists, rep)
