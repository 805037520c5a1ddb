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
from dataclasses import dataclass
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


def sync_argv(dest: Path, packages, python_version=None, platforms=()) -> list[str]:
    """pip download's command line: with a Python version or platform tags of the hosts',
    binary only (pip cannot build an sdist for another interpreter), one ``--platform`` per
    tag (pip does not widen ``manylinux_2_36`` to older glibcs itself)."""
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
            "--dest", str(dest)]
    if python_version or platforms:
        argv += ["--only-binary=:all:"]
        argv += ["--python-version", python_version] if python_version else []
        for tag in platforms or ():
            argv += ["--platform", tag]
    return argv + list(packages)


#: What a host's plain python3 says about itself: version|platform|libc|libc version
PROBE = ("import platform, sysconfig\n"
         "print('|'.join([platform.python_version(), sysconfig.get_platform(), "
         "*platform.libc_ver()]))")


@dataclass(frozen=True)
class HostTarget:
    """What ``es pypi sync`` resolves for: the hosts' Python, their platform tags (None:
    unknown, this machine's), and where each came from."""
    python: str
    platforms: list[str] | None
    source: str


def parse_probe(line: str) -> tuple[str, list[str] | None, str]:
    """(Python version, platform tags or None, how the platform reads) from :data:`PROBE`'s
    line, e.g. ``3.11.2|linux-x86_64|glibc|2.36``."""
    from essay.wheels import platform_tags

    version, plat, libc, libc_version = (line.strip().split("|") + ["", "", "", ""])[:4]
    shown = f"{plat} {libc} {libc_version}".strip()
    return version, platform_tags(plat, libc, libc_version), shown


def hosts_target(ctx, python_version: str | None, platform: str | None) -> HostTarget:
    """The hosts' Python (``--python-version``, else ``[deploy] python_version``) and
    platform (``--platform``); what is not given, the first web host is asked (one round
    trip, its ``[deploy] python``). No web hosts: this machine."""
    cfg = ctx.cfg
    given = python_version or cfg.python_version
    where = "--python-version" if python_version else "[deploy] python_version"
    hosts = cfg.hosts("web")
    if (given and platform) or not hosts:
        return HostTarget(given or ".".join(map(str, sys.version_info[:3])),
                          [platform] if platform else None,
                          f"{where if given else 'this machine'}; platform "
                          + (f"--platform {platform}" if platform else "this machine's"))
    from essay.remote.script import Script, Step
    from essay.remote.shell import q

    script = Script("python and platform", (Step("probe", f'essay_data probe "$('
                                                          f'{q(cfg.python)} -c {q(PROBE)})"'),),
                    progress=False)
    with ctx.executor() as ex:
        r = ex.run({hosts[0]: script})[hosts[0]]
    if not r.ok or not r.value("probe"):
        raise EssayError(f"cannot ask {hosts[0]} which Python and platform it has ("
                         f"{r.error or 'no answer'}); give --python-version and --platform")
    version, tags, shown = parse_probe(r.value("probe"))
    asked = f"{hosts[0]}'s {cfg.python}"
    if platform:
        tags, shown = [platform], f"--platform {platform}"
    return HostTarget(given or version, tags,
                      f"{where if given else asked}; platform {shown}"
                      + ("" if platform else f" ({asked})" if tags else
                         f" ({asked}: not glibc Linux, this machine's tags used)"))


def cli_sync(ctx, packages=None, python_version=None, platform=None) -> int:
    """``es pypi sync``: wheels (and their dependencies) into the index's directory,
    resolved for the hosts' Python and platform; then what they cannot install is moved
    out (essay.wheels)."""
    from essay import wheels
    from essay.config.app import runtime_packages

    cfg = ctx.cfg
    packages = list(packages or []) or list(dict.fromkeys(
        [*project_requirements(cfg.root), *HOST_REQUIREMENTS, *runtime_packages(cfg)]))
    target = hosts_target(ctx, python_version, platform)
    try:
        version = wheels.parse_version(target.python)
    except ValueError as e:
        raise EssayError(f"the hosts' Python ({target.source}): {e}") from None
    from packaging import tags

    here = tuple(sys.version_info[:3])
    # pip here resolves as for the hosts (sdists allowed) when it is the same Python and
    # every wheel it could pick fits them; else binary only, for their version and tags
    native = version == here and (target.platforms is None
                                  or wheels.covers(list(tags.platform_tags()), target.platforms))
    dest = cfg.packages_dir
    dest.mkdir(parents=True, exist_ok=True)
    ctx.reporter.info(f"syncing {', '.join(packages)} into {dest} for Python {target.python} "
                      f"({target.source})" + ("" if native or not target.platforms else
                                              f"; wheels for {target.platforms[0]} and older"))
    before = set(os.listdir(dest))
    proc = subprocess.run(sync_argv(dest, packages, None if native else target.python,
                                    () if native else target.platforms or ()),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(("Collecting", "Saved", "File was already")):
            ctx.reporter.info("  " + line.strip())
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-10:])
        raise EssayError(f"pip download failed for {', '.join(packages)} (Python "
                         f"{target.python}):\n{tail}")
    pruned = wheels.prune(dest, version, target.platforms)
    for name, why in pruned:
        ctx.reporter.warn(f"moved out of the index: {name} (Python {target.python}: {why})")
    added = sorted(set(os.listdir(dest)) - before)
    for f in added:
        ctx.reporter.print(f)
    ctx.reporter.outcome(f"{len(added)} new file(s) in {dest} "
                         f"({len(os.listdir(dest))} in all)" +
                         (f"; {len(pruned)} the hosts cannot install moved to "
                          f"{dest.name}-pruned/" if pruned else ""))
    return 0
