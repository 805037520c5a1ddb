"""The private index: ``es pypi serve`` runs pypiserver, ``es pypi sync`` fills it.

Uploads to the embedded index need a password. The first ``es pypi serve`` writes an
htpasswd file for user ``essay`` with a random password and keeps the credentials in
``.essay/credentials.json`` (mode 0600), where ``es build`` finds them. The password is
never printed, logged, or put on a command line. Any other index uses twine's own
credential sources (TWINE_USERNAME / TWINE_PASSWORD, ~/.pypirc, keyring).
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from essay.config import STATE_DIR
from essay.errors import EssayError, UsageError

USER = "essay"
#: What every host needs besides the project itself.
HOST_REQUIREMENTS = ("supervisor",)


def credentials_path(cfg) -> Path:
    return cfg.root / STATE_DIR / "credentials.json"


def htpasswd_path(cfg) -> Path:
    return cfg.root / STATE_DIR / "htpasswd"


def _write_private(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def ensure_credentials(cfg) -> Path:
    """Create the htpasswd file and the saved credentials if there are none yet."""
    creds, htpasswd = credentials_path(cfg), htpasswd_path(cfg)
    if htpasswd.exists() and creds.exists():
        return htpasswd
    from passlib.apache import HtpasswdFile

    password = secrets.token_urlsafe(24)
    ht = HtpasswdFile(str(htpasswd), new=True, default_scheme="sha256_crypt")
    ht.set_password(USER, password)
    _write_private(htpasswd, ht.to_string().decode())
    _write_private(creds, json.dumps({"username": USER, "password": password}) + "\n")
    return htpasswd


def saved_credentials(cfg) -> tuple[str | None, str | None]:
    """Twine's variables if set, else the embedded index's saved credentials (if any);
    (None, None) leaves the rest to twine (~/.pypirc, keyring)."""
    if os.environ.get("TWINE_USERNAME") or os.environ.get("TWINE_PASSWORD"):
        return os.environ.get("TWINE_USERNAME"), os.environ.get("TWINE_PASSWORD")
    path = credentials_path(cfg)
    if not path.exists():
        return None, None
    data = json.loads(path.read_text())
    return data.get("username"), data.get("password")


def _same_url(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return ((pa.scheme.lower(), pa.netloc.lower(), pa.path.rstrip("/"))
            == (pb.scheme.lower(), pb.netloc.lower(), pb.path.rstrip("/")))


def pypirc_repository(upload_url: str) -> str | None:
    """The ~/.pypirc section (listed in ``index-servers``) whose ``repository`` is
    ``upload_url``, if any. Twine ignores ~/.pypirc when it is given a URL, so ``es build``
    passes twine this section's name instead: its username, password and keyring apply."""
    from twine.utils import DEFAULT_CONFIG_FILE, get_config

    if not Path(os.path.expanduser(DEFAULT_CONFIG_FILE)).is_file():
        return None
    try:
        sections = get_config(DEFAULT_CONFIG_FILE)
    except Exception:   # a malformed file: twine's own error would not say more
        return None
    for name, section in sections.items():
        if section.get("repository") and _same_url(section["repository"], upload_url):
            return name
    return None


def serve_argv(cfg, host: str | None = None, port: int | None = None,
               root: str | None = None) -> list[str]:
    """pypiserver's own command line for this project's index (no secret on it)."""
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is out of range: expected a port from 1 to 65535")
    if host is not None and not host.strip():
        raise UsageError("--host is empty: expected an address to listen on, e.g. 0.0.0.0")
    url = urlsplit(cfg.index_url)
    root_dir = Path(root) if root else cfg.packages_dir
    root_dir.mkdir(parents=True, exist_ok=True)
    return ["run", "--host", host or url.hostname or "127.0.0.1",
            "--port", str(port or url.port or 8090),
            "--passwords", str(ensure_credentials(cfg)), "--authenticate", "update",
            "--disable-fallback", "--server", "auto", "-v", str(root_dir)]


def cli_serve(ctx, host=None, port=None, root=None) -> int:
    """``es pypi serve``: pypiserver in the foreground, logging requests to stderr."""
    argv = serve_argv(ctx.cfg, host, port, root)
    ctx.reporter.info(f"serving {argv[-1]} at http://{argv[2]}:{argv[4]}/simple/ "
                      f"(uploads: user {USER}, password in {credentials_path(ctx.cfg)})")
    from pypiserver.__main__ import main as pypiserver_main

    try:
        pypiserver_main(argv)
    except KeyboardInterrupt:
        pass
    ctx.reporter.outcome("index stopped")
    return 0


def project_requirements(root: Path) -> list[str]:
    """The project's install requirements, from pyproject.toml or (else) its metadata."""
    pyproject = root / "pyproject.toml"
    if pyproject.exists():
        data = tomllib.loads(pyproject.read_text())
        deps = data.get("project", {}).get("dependencies")
        if deps is not None and "dependencies" not in data.get("project", {}).get("dynamic", []):
            return list(deps)
    from build.util import project_wheel_metadata

    meta = project_wheel_metadata(root)
    return [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]


def sync_argv(dest: Path, packages, python_version=None, platform=None) -> list[str]:
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
            "--dest", str(dest)]
    if python_version or platform:
        argv += ["--only-binary=:all:"]
        argv += ["--python-version", python_version] if python_version else []
        argv += ["--platform", platform] if platform else []
    return argv + list(packages)


def cli_sync(ctx, packages=None, python_version=None, platform=None) -> int:
    """``es pypi sync``: wheels (and their dependencies) into the index's directory."""
    cfg = ctx.cfg
    packages = list(packages or []) or [*project_requirements(cfg.root), *HOST_REQUIREMENTS]
    dest = cfg.packages_dir
    dest.mkdir(parents=True, exist_ok=True)
    ctx.reporter.info(f"syncing {', '.join(packages)} into {dest}")
    before = set(os.listdir(dest))
    proc = subprocess.run(sync_argv(dest, packages, python_version, platform),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(("Collecting", "Saved", "File was already")):
            ctx.reporter.info("  " + line.strip())
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-10:])
        raise EssayError(f"pip download failed for {', '.join(packages)}:\n{tail}")
    added = sorted(set(os.listdir(dest)) - before)
    for f in added:
        ctx.reporter.print(f)
    ctx.reporter.outcome(f"{len(added)} new file(s) in {dest} "
                         f"({len(os.listdir(dest))} in all)")
    return 0
