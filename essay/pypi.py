"""The private index: ``es pypi serve`` runs pypiserver, ``es pypi sync`` fills it.

Uploads to the embedded index need a password. The first ``es pypi serve`` writes an
htpasswd file for user ``essay`` with a random password and keeps the credentials in
``.essay/credentials.json`` (mode 0600), where ``es build`` finds them. The password is
never printed, logged, or put on a command line. Any other index uses twine's own
credential sources (TWINE_USERNAME / TWINE_PASSWORD, ~/.pypirc, keyring).

The same file may hold the index's *download* credentials for the hosts (``"index"``:
:mod:`essay.config.credentials`); writing the upload ones keeps them.
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
    try:   # keep what else the file holds (the index's download credentials, "index")
        data = json.loads(creds.read_text()) if creds.exists() else {}
    except ValueError:
        data = {}
    data = {**(data if isinstance(data, dict) else {}), "username": USER, "password": password}
    _write_private(creds, json.dumps(data) + "\n")
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
    """pypiserver's own command line for this project's index (no secret on it): what
    ``es pypi serve`` gives pypiserver's configuration parser."""
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
            "--disable-fallback", "-v", str(root_dir)]


def waitress_options(cfg) -> dict:
    """waitress's settings for the index: ``[index] threads`` and ``connection_limit``.
    poll() instead of select(): select() cannot watch a descriptor numbered 1024 or more."""
    return {"threads": cfg.index_threads, "connection_limit": cfg.index_connection_limit,
            "asyncore_use_poll": True, "ident": "essay-pypi"}


def run_index(argv: list[str], options: dict):
    """pypiserver's app, as its own ``main`` builds it (configuration, logging, the
    health endpoint), served by waitress with ``options``."""
    import functools
    import logging

    import pypiserver
    import waitress
    from pypiserver import bottle_wrapper as bottle
    from pypiserver.__main__ import _logwrite, init_logging
    from pypiserver.config import Config

    from essay.remote.connect import raise_fd_limit

    config = Config.from_args(argv)
    init_logging(level=config.log_level, filename=config.log_file, frmt=config.log_frmt,
                 stream=config.log_stream)
    bottle.debug(config.verbosity > 1)
    bottle._stderr = functools.partial(_logwrite, logging.getLogger(bottle.__name__),
                                       logging.INFO)
    app = pypiserver.setup_routes_from_config(pypiserver.app_from_config(config), config)
    raise_fd_limit(options["connection_limit"], per_connection=1)
    waitress.serve(app, host=config.host, port=config.port, **options)


def cli_serve(ctx, host=None, port=None, root=None) -> int:
    """``es pypi serve``: pypiserver under waitress in the foreground, logging requests to
    stderr."""
    argv = serve_argv(ctx.cfg, host, port, root)
    options = waitress_options(ctx.cfg)
    ctx.reporter.info(f"serving {argv[-1]} at http://{argv[2]}:{argv[4]}/simple/ "
                      f"({options['threads']} threads, at most "
                      f"{options['connection_limit']} connections; "
                      f"uploads: user {USER}, password in {credentials_path(ctx.cfg)})")
    try:
        run_index(argv, options)
    except KeyboardInterrupt:
        pass
    except OSError as e:   # the address: taken, or not this machine's
        raise EssayError(f"cannot listen on {argv[2]}:{argv[4]}: {e.strerror or e}") from None
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


def hosts_python(ctx, python_version: str | None) -> tuple[str, str]:
    """The hosts' Python version and where it came from: ``--python-version``, else
    ``[deploy] python_version``, else the first web host, asked (one round trip)."""
    cfg = ctx.cfg
    if python_version:
        return python_version, "--python-version"
    if cfg.python_version:
        return cfg.python_version, "[deploy] python_version"
    from essay.remote.script import Script, Step
    from essay.remote.shell import q

    hosts = cfg.hosts("web")
    if not hosts:
        return ".".join(map(str, sys.version_info[:3])), "this machine (no web hosts)"
    probe = q("import platform; print(platform.python_version())")
    script = Script("python version", (Step("python", f'essay_data python "$({q(cfg.python)} '
                                                      f'-c {probe})"'),), progress=False)
    with ctx.executor() as ex:
        r = ex.run({hosts[0]: script})[hosts[0]]
    if not r.ok or not r.value("python"):
        raise EssayError(f"cannot ask {hosts[0]} which Python it has ({r.error or 'no answer'})"
                         "; give --python-version or set [deploy] python_version")
    return r.value("python"), f"{hosts[0]}'s {cfg.python}"


def cli_sync(ctx, packages=None, python_version=None, platform=None) -> int:
    """``es pypi sync``: wheels (and their dependencies) into the index's directory,
    resolved for the hosts' Python; then the wheels they cannot install are moved out."""
    from essay import wheels
    from essay.config.app import runtime_packages

    cfg = ctx.cfg
    packages = list(packages or []) or list(dict.fromkeys(
        [*project_requirements(cfg.root), *HOST_REQUIREMENTS, *runtime_packages(cfg)]))
    target, source = hosts_python(ctx, python_version)
    try:
        version = wheels.parse_version(target)
    except ValueError as e:
        raise EssayError(f"the hosts' Python ({source}): {e}") from None
    here = tuple(sys.version_info[:3])
    dest = cfg.packages_dir
    dest.mkdir(parents=True, exist_ok=True)
    ctx.reporter.info(f"syncing {', '.join(packages)} into {dest} for Python {target} "
                      f"({source})")
    before = set(os.listdir(dest))
    # the same Python here: pip resolves as for the hosts, sdists allowed
    proc = subprocess.run(sync_argv(dest, packages, target if version != here else None,
                                    platform),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(("Collecting", "Saved", "File was already")):
            ctx.reporter.info("  " + line.strip())
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-10:])
        raise EssayError(f"pip download failed for {', '.join(packages)} (Python {target}):"
                         f"\n{tail}")
    pruned = wheels.prune(dest, version, [platform] if platform else None)
    for name, why in pruned:
        ctx.reporter.warn(f"moved out of the index: {name} (Python {target}: {why})")
    added = sorted(set(os.listdir(dest)) - before)
    for f in added:
        ctx.reporter.print(f)
    ctx.reporter.outcome(f"{len(added)} new file(s) in {dest} "
                         f"({len(os.listdir(dest))} in all)" +
                         (f"; {len(pruned)} the hosts cannot install moved to "
                          f"{dest.name}-pruned/" if pruned else ""))
    return 0
