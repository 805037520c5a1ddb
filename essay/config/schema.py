"""The schema: :class:`Config`, every key of essay.toml with its default and its checks."""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path

from essay.config.app import APP_KEYS, read_app, read_workers
from essay.config.loader import STATE_DIR
from essay.config.reader import (ConfigError, Reader, check_http_path, check_remote_path,
                                 check_server_name, check_url, check_version_file,
                                 table_keys, upload_url_for)
from essay.errors import EssayError
from essay.validate import check_color, check_host, check_name

DEFAULT_INDEX = "http://127.0.0.1:8090/simple/"


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
    nginx_client_max_body_size: str
    nginx_pid_file: str             # "" -- a reload is not waited on
    nginx_reload_timeout: float
    drain_timeout: float
    release_grace: float
    version_file: str
    accept_new_host_keys: bool
    connect_timeout: float
    ssh_client: str = "auto"        # "auto" (OpenSSH for lbs), "openssh" or "paramiko"
    control_persist: int = 300      # seconds an OpenSSH connection is kept (0: not kept)
    app: str = ""                   # "module:callable" the server serves
    server: str = "gunicorn"        # "gunicorn" or "uvicorn" (ASGI workers under gunicorn)
    packages: tuple[str, ...] = ()  # extra runtime packages in every colour
    health_host: str = ""           # Host header of health checks ("": the address)
    release: str = ""               # run once per deploy, before the colour restarts
    python_version: str = ""        # the hosts' Python for `es pypi sync` ("": ask a host)
    workers: dict = field(default_factory=dict)   # NAME -> COMMAND, live colour only
    raw: dict = field(default_factory=dict, repr=False)
    env: str | None = None          # the chosen environment ([env.NAME]), None: none
    env_names: tuple[str, ...] = ()  # every environment essay.toml defines
    index_threads: int = 32         # `es pypi serve`: waitress's worker threads
    index_connection_limit: int = 1000  # ... and the connections it accepts at once
    index_password: str = ""        # where the index password came from ("": none;
    #                                 essay.config.credentials)

    def hosts(self, role: str) -> list[str]:
        return list(self.roles.get(role, []))

    def worker_hosts(self) -> list[str]:
        """The ``worker`` role's hosts; without one, the web hosts."""
        return self.hosts("worker") if "worker" in self.roles else self.hosts("web")

    def color_dir(self, color: str) -> str:
        return f"{self.prefix.rstrip('/')}/{color}"

    @property
    def ports(self) -> dict[str, list[int]]:
        """Every colour's ports: process i of colour C listens on colors[C] + i."""
        return {c: [p + i for i in range(self.processes)] for c, p in self.colors.items()}

    def first_color(self) -> str:
        return next(iter(self.colors))


def from_dict(data: dict, path: Path | None, root: Path | None = None) -> Config:
    root = (root or (path.parent if path else Path.cwd())).resolve()
    known = {"project", "index", "roles", "deploy", "colors", "nginx", "release", "build", "ssh",
             "server", "workers"}  # [server]: read and checked by essay.server.settings
    for table in data:
        if table not in known:
            raise ConfigError(f"{path}: unknown table [{table}]; known: {', '.join(sorted(known))}")

    project = Reader(path, data, "project", {"name", "package"})
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

    index = Reader(path, data, "index", {"url", "upload_url", "packages_dir", "threads",
                                         "connection_limit"})
    url = index.get("url", str, DEFAULT_INDEX, "an http(s) URL of a simple index")
    check_url(index, "url", url, "http://10.0.0.1:8090/simple/")
    if not url.endswith("/"):
        url += "/"
    upload = index.get("upload_url", str, upload_url_for(url), "an http(s) URL")
    check_url(index, "upload_url", upload, "http://127.0.0.1:8090/")
    packages_dir = root / index.get("packages_dir", str, f"{STATE_DIR}/packages")
    threads = index.get("threads", int, 32, "a whole number from 1 to 256")
    if not 1 <= threads <= 256:
        index.fail("threads", threads, "a whole number from 1 to 256")
    conn_limit = index.get("connection_limit", int, 1000, "a whole number from 1 to 10000")
    if not 1 <= conn_limit <= 10000:
        index.fail("connection_limit", conn_limit, "a whole number from 1 to 10000")

    roles_r = Reader(path, data, "roles", table_keys(data, "roles"))
    roles = {"web": ["local"], "lb": ["local"]} if "roles" not in data else {}
    for role in roles_r.data:
        hosts = roles_r.strings(role, [])
        for h in hosts:
            try:
                check_host(h)
            except EssayError as e:
                roles_r.fail(role, h, f"a host string like user@host:port or an alias ({e})")
        roles[role] = hosts

    deploy = Reader(path, data, "deploy", {
        "prefix", "python", "processes", "health_path", "health_timeout", "installer",
        "parallel", "profile", "pre_deploy", "post_deploy", "drain_timeout", *APP_KEYS})
    processes = deploy.get("processes", int, 2, "a whole number from 1 to 64")
    if not 1 <= processes <= 64:
        deploy.fail("processes", processes, "a whole number from 1 to 64")
    health_path = deploy.get("health_path", str, "/health", 'a path such as "/health"')
    check_http_path(deploy, "health_path", health_path)
    installer = deploy.get("installer", str, "pip", '"pip" or "uv"')
    if installer not in ("pip", "uv"):
        deploy.fail("installer", installer, '"pip" or "uv"')
    parallel = deploy.get("parallel", int, 16, "a whole number >= 1")
    if parallel < 1:
        deploy.fail("parallel", parallel, "a whole number >= 1")

    colors_r = Reader(path, data, "colors", table_keys(data, "colors"))
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

    nginx = Reader(path, data, "nginx", {"site", "test", "reload", "listen", "server_name",
                                          "state_dir", "client_max_body_size", "pid_file",
                                          "reload_timeout"})
    site = check_remote_path(nginx, "site", nginx.get(
        "site", str, f"/etc/nginx/conf.d/{name}.conf", "a file path"), "/etc/nginx/conf.d/x.conf")
    listen = nginx.get("listen", int, 80, "a port number")
    if not 1 <= listen <= 65535:
        nginx.fail("listen", listen, "a port number from 1 to 65535")
    state_dir = check_remote_path(nginx, "state_dir", nginx.get(
        "state_dir", str, re.sub(r"\.conf$", "", site) + ".essay", "a directory path"),
        "/var/lib/essay/demo")
    pid_file = nginx.get("pid_file", str, "/run/nginx.pid", 'a file path, or ""')
    if pid_file:
        check_remote_path(nginx, "pid_file", pid_file, "/run/nginx.pid")
    body = nginx.get("client_max_body_size", str, "10m", 'an nginx size such as "10m"')
    if not re.fullmatch(r"[0-9]{1,9}[kKmMgG]?", body):
        nginx.fail("client_max_body_size", body, 'an nginx size: digits with an optional '
                   'k, m or g suffix, such as "10m" ("0" lifts the limit)')

    release = Reader(path, data, "release", {"grace"})
    build = Reader(path, data, "build", {"version_file"})
    ssh = Reader(path, data, "ssh", {"accept_new_host_keys", "connect_timeout", "client",
                                     "control_persist"})
    client = ssh.get("client", str, "auto", '"auto", "openssh" or "paramiko"')
    if client not in ("auto", "openssh", "paramiko"):
        ssh.fail("client", client, '"auto", "openssh" or "paramiko"')
    persist = ssh.positive("control_persist", 300.0, "seconds, a whole number >= 0",
                           zero_ok=True)
    if persist != int(persist):
        ssh.fail("control_persist", persist, "seconds, a whole number >= 0")

    return Config(
        root=root, path=path, name=name, package=package,
        index_url=url, upload_url=upload, index_embedded="index" not in data,
        packages_dir=packages_dir, roles=roles,
        index_threads=threads, index_connection_limit=conn_limit,
        prefix=check_remote_path(deploy, "prefix", deploy.get("prefix", str, f"~/{name}",
                                                              "a directory path"), "~/demo"),
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
        nginx_server_name=check_server_name(nginx, nginx.get("server_name", str, "_",
                                                             "a server name")),
        nginx_state_dir=state_dir,
        nginx_client_max_body_size=body,
        nginx_pid_file=pid_file,
        nginx_reload_timeout=nginx.positive("reload_timeout", 10.0),
        drain_timeout=deploy.positive("drain_timeout", 30.0),
        release_grace=release.positive("grace", 10.0, "seconds, a number >= 0", zero_ok=True),
        version_file=check_version_file(
            build, build.get("version_file", str, f"{package}/_release.py", "a path")),
        accept_new_host_keys=ssh.get("accept_new_host_keys", bool, False, "true or false"),
        connect_timeout=ssh.positive("connect_timeout", 10.0),
        ssh_client=client, control_persist=int(persist),
        **read_app(deploy, package),
        workers=read_workers(path, data),
        raw=data,
    )


