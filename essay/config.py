"""essay.toml: find it, parse it with tomllib, validate it, fill in the defaults.

Every key has a documented default (docs/configuration.md) except ``[project] name``.
A bad value raises :class:`ConfigError` naming the file, the key, what was found and
what was expected -- before any remote command runs.
"""
from __future__ import annotations

import keyword
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from essay.errors import EssayError
from essay.validate import check_color, check_host, check_name

FILENAME = "essay.toml"
STATE_DIR = ".essay"  # essay's local state in a project: credentials, index packages
DEFAULT_INDEX = "http://127.0.0.1:8090/simple/"


class ConfigError(EssayError):
    """essay.toml is missing or holds a value essay cannot use."""


@dataclass(frozen=True)
class Config:
    root: Path                      # the project directory (where essay.toml is)
    path: Path | None               # essay.toml itself (None: no file, all defaults)
    name: str
    package: str
    index_url: str
    upload_url: str
    index_embedded: bool            # no [index]: essay's own pypiserver under .essay/
    packages_dir: Path              # where `es pypi serve` keeps packages
    roles: dict[str, list[str]]
    prefix: str
    python: str
    processes: int
    health_path: str
    health_timeout: float
    installer: str
    parallel: int
    profile: str
    pre_deploy: list[str]
    post_deploy: list[str]
    colors: dict[str, int]
    nginx_site: str
    nginx_test: str
    nginx_reload: str
    nginx_listen: int
    nginx_server_name: str
    nginx_state_dir: str
    release_grace: float
    version_file: str
    accept_new_host_keys: bool
    connect_timeout: float
    raw: dict = field(default_factory=dict, repr=False)

    def hosts(self, role: str) -> list[str]:
        return list(self.roles.get(role, []))

    def color_dir(self, color: str) -> str:
        return f"{self.prefix.rstrip('/')}/{color}"

    @property
    def ports(self) -> dict[str, list[int]]:
        """Every colour's ports: process i of colour C listens on colors[C] + i."""
        return {c: [p + i for i in range(self.processes)] for c, p in self.colors.items()}

    def first_color(self) -> str:
        return next(iter(self.colors))


def find(start: Path | None = None) -> Path | None:
    """The nearest essay.toml from ``start`` (default: the working directory) upward."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / FILENAME).is_file():
            return d / FILENAME
    return None


def load(start: Path | None = None, path: Path | None = None) -> Config:
    """Find, parse and validate essay.toml."""
    path = path or find(start)
    if path is None:
        raise ConfigError(f"no {FILENAME} in {start or Path.cwd()} or any parent directory; "
                          "run `es init` in your project, or `es create NAME` for a new one")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return from_dict(data, path)


class _Reader:
    """Reads typed keys out of one table, naming file and key in every error."""

    def __init__(self, path, data: dict, table: str, known: set[str]):
        self.path, self.table = path, table
        self.data = data.get(table, {})
        if not isinstance(self.data, dict):
            self.fail(table, self.data, "a table")
        for key in self.data:
            if key not in known:
                raise ConfigError(f"{path}: unknown key [{table}] {key}; "
                                  f"known keys: {', '.join(sorted(known))}")

    def fail(self, key, found, expected):
        where = f"[{self.table}] {key}" if key != self.table else f"[{self.table}]"
        if isinstance(found, str) and "@" in found and "://" in found:
            found = redact_url(found)   # the found value may be a URL with a password
        raise ConfigError(f"{self.path}: {where} is {found!r}, expected {expected}")

    def positive(self, key, default, expected="seconds, a number > 0", zero_ok=False):
        value = self.get(key, float, default, expected)
        if value < 0 or (value == 0 and not zero_ok):
            self.fail(key, value, expected)
        return value

    def get(self, key, typ, default, expected=None):
        value = self.data.get(key, default)
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            self.fail(key, value, expected or typ.__name__)
        return value

    def strings(self, key, default):
        value = self.data.get(key, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, value, "a list of strings")
        return list(value)


def upload_url_for(index_url: str) -> str:
    """The upload URL of a pypiserver-style index: its simple URL without ``simple/``."""
    parts = urlsplit(index_url)
    path = re.sub(r"simple/?$", "", parts.path) or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _check_url(reader: _Reader, key: str, url: str, example: str):
    """An http(s) URL with a host and, if any, a valid port."""
    parts = urlsplit(url)
    try:
        parts.port
    except ValueError:
        reader.fail(key, url, f"an http(s) URL with a port from 1 to 65535, such as {example}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        reader.fail(key, url, f"an http(s) URL such as {example}")


def _check_version_file(reader: _Reader, value: str):
    """A .py file inside the project: relative, no ``..`` (it is written in the build tree)."""
    from pathlib import PurePosixPath

    p = PurePosixPath(value)
    if p.is_absolute() or ".." in p.parts or "\\" in value or p.suffix != ".py":
        reader.fail("version_file", value, "a .py module path relative to the project, "
                    'inside it, such as "demo/_release.py"')
    return value


def _table_keys(data: dict, table: str) -> set:
    value = data.get(table, {})
    return set(value) if isinstance(value, dict) else set()


def from_dict(data: dict, path: Path | None, root: Path | None = None) -> Config:
    root = (root or (path.parent if path else Path.cwd())).resolve()
    known = {"project", "index", "roles", "deploy", "colors", "nginx", "release", "build", "ssh"}
    for table in data:
        if table not in known:
            raise ConfigError(f"{path}: unknown table [{table}]; known: {', '.join(sorted(known))}")

    project = _Reader(path, data, "project", {"name", "package"})
    if "name" not in project.data:
        raise ConfigError(f"{path}: [project] name is missing, expected the distribution name, "
                          'e.g. name = "demo"')
    name = project.get("name", str, None, "a distribution name like \"demo\"")
    try:
        check_name(name)
    except EssayError as e:
        project.fail("name", name, f"a valid project name ({e})")
    package = project.get("package", str, name.lower().replace("-", "_"),
                          'a Python package name such as "demo"')
    if not package.isidentifier() or keyword.iskeyword(package):
        project.fail("package", package, 'a Python package name such as "demo" (letters, '
                     "digits and '_', not starting with a digit)")

    index = _Reader(path, data, "index", {"url", "upload_url", "packages_dir"})
    url = index.get("url", str, DEFAULT_INDEX, "an http(s) URL of a simple index")
    _check_url(index, "url", url, "http://10.0.0.1:8090/simple/")
    if not url.endswith("/"):
        url += "/"
    upload = index.get("upload_url", str, upload_url_for(url), "an http(s) URL")
    _check_url(index, "upload_url", upload, "http://127.0.0.1:8090/")
    packages_dir = root / index.get("packages_dir", str, f"{STATE_DIR}/packages")

    roles_r = _Reader(path, data, "roles", _table_keys(data, "roles"))
    roles = {"web": ["local"], "lb": ["local"]} if "roles" not in data else {}
    for role in roles_r.data:
        hosts = roles_r.strings(role, [])
        for h in hosts:
            try:
                check_host(h)
            except EssayError as e:
                roles_r.fail(role, h, f"a host string like user@host:port or an alias ({e})")
        roles[role] = hosts

    deploy = _Reader(path, data, "deploy", {
        "prefix", "python", "processes", "health_path", "health_timeout", "installer",
        "parallel", "profile", "pre_deploy", "post_deploy"})
    processes = deploy.get("processes", int, 2, "a whole number from 1 to 64")
    if not 1 <= processes <= 64:
        deploy.fail("processes", processes, "a whole number from 1 to 64")
    health_path = deploy.get("health_path", str, "/health", 'a path such as "/health"')
    if not health_path.startswith("/"):
        deploy.fail("health_path", health_path, 'a path starting with "/", such as "/health"')
    installer = deploy.get("installer", str, "pip", '"pip" or "uv"')
    if installer not in ("pip", "uv"):
        deploy.fail("installer", installer, '"pip" or "uv"')
    parallel = deploy.get("parallel", int, 16, "a whole number >= 1")
    if parallel < 1:
        deploy.fail("parallel", parallel, "a whole number >= 1")

    colors_r = _Reader(path, data, "colors", _table_keys(data, "colors"))
    colors = {}
    for c, port in (colors_r.data or {"a": 8800, "b": 8810}).items():
        try:
            check_color(c)
        except EssayError as e:
            colors_r.fail(c, c, f"a colour name of lowercase letters and digits ({e})")
        top = 65535 - processes + 1   # process i listens on port + i
        if not isinstance(port, int) or isinstance(port, bool) or not 1024 <= port <= top:
            colors_r.fail(c, port, f"a base port from 1024 to {top} ({processes} processes "
                          "listen on it and the ports after it)")
        colors[c] = port
    if len(colors) < 2:
        colors_r.fail("colors", colors, "at least two colours, e.g. a = 8800 and b = 8810")
    spans = sorted((p, p + processes - 1, c) for c, p in colors.items())
    for (lo1, hi1, c1), (lo2, _, c2) in zip(spans, spans[1:]):
        if lo2 <= hi1:
            colors_r.fail(c2, colors[c2], f"ports that do not overlap colour {c1}'s {lo1}-{hi1} "
                          f"({processes} processes each)")

    nginx = _Reader(path, data, "nginx", {"site", "test", "reload", "listen", "server_name",
                                          "state_dir"})
    site = nginx.get("site", str, f"/etc/nginx/conf.d/{name}.conf", "a file path")
    listen = nginx.get("listen", int, 80, "a port number")
    if not 1 <= listen <= 65535:
        nginx.fail("listen", listen, "a port number from 1 to 65535")
    state_dir = nginx.get("state_dir", str, re.sub(r"\.conf$", "", site) + ".essay",
                          "a directory path")

    release = _Reader(path, data, "release", {"grace"})
    build = _Reader(path, data, "build", {"version_file"})
    ssh = _Reader(path, data, "ssh", {"accept_new_host_keys", "connect_timeout"})

    return Config(
        root=root, path=path, name=name, package=package,
        index_url=url, upload_url=upload, index_embedded="index" not in data,
        packages_dir=packages_dir, roles=roles,
        prefix=deploy.get("prefix", str, f"~/{name}", "a directory path"),
        python=deploy.get("python", str, "python3", "a python executable"),
        processes=processes, health_path=health_path,
        health_timeout=deploy.positive("health_timeout", 30.0),
        installer=installer, parallel=parallel,
        profile=deploy.get("profile", str, "default", "a profile name"),
        pre_deploy=deploy.strings("pre_deploy", []),
        post_deploy=deploy.strings("post_deploy", []),
        colors=colors,
        nginx_site=site,
        nginx_test=nginx.get("test", str, "sudo nginx -t", "a shell command"),
        nginx_reload=nginx.get("reload", str, "sudo nginx -s reload", "a shell command"),
        nginx_listen=listen,
        nginx_server_name=nginx.get("server_name", str, "_", "a server name"),
        nginx_state_dir=state_dir,
        release_grace=release.positive("grace", 10.0, "seconds, a number >= 0", zero_ok=True),
        version_file=_check_version_file(
            build, build.get("version_file", str, f"{package}/_release.py", "a path")),
        accept_new_host_keys=ssh.get("accept_new_host_keys", bool, False, "true or false"),
        connect_timeout=ssh.positive("connect_timeout", 10.0),
        raw=data,
    )


def redacted(cfg: Config) -> dict:
    """The resolved configuration as plain data, for ``es config``; secrets never appear."""
    out = {
        "project": {"name": cfg.name, "package": cfg.package, "root": str(cfg.root),
                    "file": str(cfg.path) if cfg.path else None},
        "index": {"url": redact_url(cfg.index_url), "upload_url": redact_url(cfg.upload_url),
                  "embedded": cfg.index_embedded, "packages_dir": str(cfg.packages_dir)},
        "roles": cfg.roles,
        "deploy": {"prefix": cfg.prefix, "python": cfg.python, "processes": cfg.processes,
                   "health_path": cfg.health_path, "health_timeout": cfg.health_timeout,
                   "installer": cfg.installer, "parallel": cfg.parallel, "profile": cfg.profile,
                   "pre_deploy": cfg.pre_deploy, "post_deploy": cfg.post_deploy},
        "colors": cfg.colors,
        "nginx": {"site": cfg.nginx_site, "test": cfg.nginx_test, "reload": cfg.nginx_reload,
                  "listen": cfg.nginx_listen, "server_name": cfg.nginx_server_name,
                  "state_dir": cfg.nginx_state_dir},
        "release": {"grace": cfg.release_grace},
        "build": {"version_file": cfg.version_file},
        "ssh": {"accept_new_host_keys": cfg.accept_new_host_keys,
                "connect_timeout": cfg.connect_timeout},
    }
    return out


def redact_url(url: str) -> str:
    """``url`` with the password of its user info (if any) replaced by ``***``; the host
    and port are kept exactly as written (IPv6 brackets too)."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


_hide_password = redact_url   # the old private name
