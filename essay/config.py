"""essay.toml: find it, parse it with tomllib, validate it, fill in the defaults.

Every key has a documented default (docs/configuration.md) except ``[project] name``.
A bad value raises :class:`ConfigError` naming the file, the key, what was found and
what was expected -- before any remote command runs.
"""
from __future__ import annotations

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
        raise ConfigError(f"{self.path}: {where} is {found!r}, expected {expected}")

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
    package = project.get("package", str, name.lower().replace("-", "_"))

    index = _Reader(path, data, "index", {"url", "upload_url", "packages_dir"})
    url = index.get("url", str, DEFAULT_INDEX, "an http(s) URL of a simple index")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        index.fail("url", url, "an http(s) URL such as http://10.0.0.1:8090/simple/")
    if not url.endswith("/"):
        url += "/"
    upload = index.get("upload_url", str, upload_url_for(url), "an http(s) URL")
    if urlsplit(upload).scheme not in ("http", "https"):
        index.fail("upload_url", upload, "an http(s) URL such as http://127.0.0.1:8090/")
    packages_dir = root / index.get("packages_dir", str, f"{STATE_DIR}/packages")

    roles_r = _Reader(path, data, "roles", set(data.get("roles", {})))
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

    colors_r = _Reader(path, data, "colors", set(data.get("colors", {})))
    colors = {}
    for c, port in (colors_r.data or {"a": 8800, "b": 8810}).items():
        try:
            check_color(c)
        except EssayError as e:
            colors_r.fail(c, c, f"a colour name of lowercase letters and digits ({e})")
        if not isinstance(port, int) or isinstance(port, bool) or not 1024 <= port <= 65535 - processes:
            colors_r.fail(c, port, "a base port from 1024 to 65535")
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
        health_timeout=deploy.get("health_timeout", float, 30.0, "seconds"),
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
        release_grace=release.get("grace", float, 10.0, "seconds"),
        version_file=build.get("version_file", str, f"{package}/_release.py", "a path"),
        accept_new_host_keys=ssh.get("accept_new_host_keys", bool, False, "true or false"),
        connect_timeout=ssh.get("connect_timeout", float, 10.0, "seconds"),
        raw=data,
    )


def redacted(cfg: Config) -> dict:
    """The resolved configuration as plain data, for ``es config``; secrets never appear."""
    out = {
        "project": {"name": cfg.name, "package": cfg.package, "root": str(cfg.root),
                    "file": str(cfg.path) if cfg.path else None},
        "index": {"url": _hide_password(cfg.index_url), "upload_url": _hide_password(cfg.upload_url),
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


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
