"""The application keys: what a colour runs and how ([deploy] app, server, packages,
health_host, release, python_version) and the workers ([workers] NAME = "COMMAND").

Kept apart from :mod:`essay.config.schema` so the schema stays a list of keys; the
checks here are the ones a real project trips over (docs/configuration.md#deploy).
"""
from __future__ import annotations

import re

from essay.config.reader import Reader, table_keys

#: server -> (gunicorn's worker arguments, the packages every colour gets for it)
SERVERS = {
    "gunicorn": (("--worker-class", "gthread", "--threads", "8"), ("gunicorn",)),
    # an ASGI app served by uvicorn's worker under gunicorn (same supervisor lines)
    "uvicorn": (("--worker-class", "uvicorn_worker.UvicornWorker"),
                ("gunicorn", "uvicorn-worker")),
}
APP_KEYS = {"app", "server", "packages", "health_host", "release", "python_version"}

_APP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
                  r":[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(\(\))?$")
_REQ = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?"
                  r"([<>=!~]=?[A-Za-z0-9.*+!]+(,[<>=!~]=?[A-Za-z0-9.*+!]+)*)?$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_PYVER = re.compile(r"^3\.\d{1,2}(\.\d{1,3})?$")
_WORKER = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


def read_app(deploy: Reader, package: str) -> dict:
    """The application keys of ``[deploy]``, checked, with their defaults."""
    app = deploy.get("app", str, f"{package}.wsgi:application",
                     'an import path "module:callable", such as "httpbin:app"')
    if not _APP.fullmatch(app):
        deploy.fail("app", app, 'an import path "module:callable", such as "httpbin:app" '
                    'or "demo.asgi:application"')
    server = deploy.get("server", str, "gunicorn", '"gunicorn" or "uvicorn"')
    if server not in SERVERS:
        deploy.fail("server", server, '"gunicorn" (WSGI) or "uvicorn" (ASGI, uvicorn workers '
                    "under gunicorn)")
    packages = deploy.strings("packages", [])
    for p in packages:
        if not _REQ.fullmatch(p.replace(" ", "")):
            deploy.fail("packages", p, 'requirements such as "gunicorn" or "psycopg[binary]>=3"')
    health_host = deploy.get("health_host", str, "", 'a host name such as "example.com"')
    if health_host and not _HOSTNAME.fullmatch(health_host):
        deploy.fail("health_host", health_host, 'a host name (optionally :port) such as '
                    '"example.com", sent as the Host header of health checks')
    release = deploy.get("release", str, "", 'a shell command such as "python -m shop migrate --noinput"')
    if "\n" in release or "\0" in release:
        deploy.fail("release", release, "one line of shell")
    python_version = deploy.get("python_version", str, "", 'the hosts\' Python, such as "3.11"')
    if python_version and not _PYVER.fullmatch(python_version):
        deploy.fail("python_version", python_version, 'a Python 3 version such as "3.11" or '
                    '"3.11.2"')
    return {"app": app, "server": server, "packages": tuple(packages),
            "health_host": health_host, "release": release, "python_version": python_version}


def read_workers(path, data: dict) -> dict[str, str]:
    """``[workers] NAME = "COMMAND"``: processes not behind nginx, run in the live colour."""
    workers = Reader(path, data, "workers", table_keys(data, "workers"))
    out = {}
    for name in workers.data:
        if not _WORKER.fullmatch(name):
            workers.fail(name, name, "a worker name of letters, digits, '-' and '_', starting "
                         "with a letter (at most 32)")
        command = workers.get(name, str, "", 'a shell command such as "python -m demo.worker"')
        if not command.strip() or "\n" in command or "\0" in command:
            workers.fail(name, command, 'one non-empty line of shell, such as '
                         '"python -m demo.worker"')
        out[name] = command
    return out


def server_args(server: str) -> tuple[str, ...]:
    return SERVERS[server][0]


def runtime_packages(cfg) -> list[str]:
    """What every colour gets besides the project: the server's packages, then
    ``[deploy] packages`` (duplicates dropped, order kept)."""
    return list(dict.fromkeys([*SERVERS[cfg.server][1], *cfg.packages]))
