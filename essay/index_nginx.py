"""``es pypi nginx-conf``: the nginx site for the index host. nginx serves the package
files straight from the package directory; the simple pages, uploads and ``/health`` go
to pypiserver (``es pypi serve``) listening on a private address behind it.

A fleet installing at once then costs pypiserver only the small simple pages; every wheel
is a static file nginx sends (sendfile, no Python). Downloads need no password
(``--authenticate update``), so serving the files without pypiserver skips no check.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from essay.errors import UsageError

SITE = """\
# The private index, written by `es pypi nginx-conf` (essay). nginx serves the package
# files from disk (its worker user must be able to read them):
#   {root}/
# the simple pages, uploads and /health go to pypiserver, run as
#   es pypi serve --host {backend_host} --port {backend_port}
upstream essay_index_{backend_port} {{
    server {backend};
    keepalive 16;
}}

server {{
    listen {listen};
    server_name {server_name};
    client_max_body_size 0;          # uploads: wheels and sdists of any size

    location = /packages/ {{           # pypiserver's listing of every file
        proxy_pass http://essay_index_{backend_port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
    }}

    location /packages/ {{             # the files themselves, from disk
        alias {root}/;
        default_type application/octet-stream;
        location ~ /\\. {{ return 404; }}
    }}

    location / {{                      # simple pages, uploads, /health
        proxy_pass http://essay_index_{backend_port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
}}
"""

_SAFE_PATH = re.compile(r"/[A-Za-z0-9._+@%=,:/-]*")
_HOST = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]")
_NAMES = re.compile(r"[A-Za-z0-9._*-]+( [A-Za-z0-9._*-]+)*")


def _address(flag: str, value: str, default_host: str | None) -> tuple[str, int]:
    """``HOST:PORT`` or (with a default host) ``PORT``; the port from 1 to 65535."""
    host, sep, port = value.rpartition(":")
    if not sep and default_host is not None:
        host = default_host
    ok = (port.isdigit() and 1 <= int(port) <= 65535
          and bool(_HOST.fullmatch(host) or (host == "" and default_host == "" and not sep)))
    if not ok:
        example = "8090 or 10.0.0.5:8090" if default_host is not None else "127.0.0.1:8091"
        raise UsageError(f"{flag} is {value!r}, expected "
                         f"{'[HOST:]PORT' if default_host is not None else 'HOST:PORT'} "
                         f"with a port from 1 to 65535, such as {example}")
    return host, int(port)


def site_values(cfg, listen=None, backend=None, root=None, server_name=None) -> dict:
    """The site's values: ``--listen`` (default: the port of ``[index] url``),
    ``--backend`` (default: 127.0.0.1 and that port + 1), ``--root`` (default:
    ``[index] packages_dir``), ``--server-name`` (default ``_``); each checked."""
    url = urlsplit(cfg.index_url)
    url_port = url.port or (443 if url.scheme == "https" else 80)
    lhost, lport = _address("--listen", listen or str(url_port), "")
    bhost, bport = _address("--backend", backend or f"127.0.0.1:{min(url_port + 1, 65535)}",
                            None)
    if (lhost in ("", bhost) or bhost in ("0.0.0.0", "[::]")) and lport == bport:
        raise UsageError(f"--backend {bhost}:{bport} is where nginx listens (--listen "
                         f"{listen or lport}): expected another port for pypiserver")
    path = str(Path(root).resolve() if root else cfg.packages_dir.resolve())
    if not _SAFE_PATH.fullmatch(path) or path == "/":
        raise UsageError(f"--root is {path!r}, expected a directory path of letters, digits "
                         "and ._+@%=,:/- only (nginx reads it), such as /srv/index/packages")
    name = server_name or "_"
    if name != "_" and not _NAMES.fullmatch(name):
        raise UsageError(f"--server-name is {name!r}, expected host names separated by "
                         "spaces, such as \"index.example.com\"")
    return {"listen": f"{lhost}:{lport}" if lhost else str(lport), "backend": f"{bhost}:{bport}",
            "backend_host": bhost, "backend_port": bport, "root": path.rstrip("/"),
            "server_name": name}


def site(cfg, **options) -> str:
    return SITE.format(**site_values(cfg, **options))


def cli_nginx_conf(ctx, listen=None, backend=None, root=None, server_name=None) -> int:
    """``es pypi nginx-conf``: print the site (stdout only: redirect it into conf.d/)."""
    ctx.reporter.print(site(ctx.cfg, listen=listen, backend=backend, root=root,
                            server_name=server_name).rstrip("\n"))
    return 0
