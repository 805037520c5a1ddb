"""The web app: a plain WSGI callable, no framework.

WSGI in one paragraph: the server (gunicorn) calls ``app(environ, start_response)`` once
per request. ``environ`` is a dict of CGI-style variables (``REQUEST_METHOD``,
``PATH_INFO``, ...); the app calls ``start_response(status, headers)`` and returns an
iterable of bytes -- the body. That is the whole protocol; frameworks are built on it.

Routes:

* ``GET /``       -- a small HTML page naming the app and its version
* ``GET /health`` -- JSON that essay polls after a deploy and before a flip; it must
  answer 200 quickly and say which version this process runs
* anything else   -- 404 (405 for a known path with another method)
"""
import html
import json

from . import NAME, _release


def health():
    """What /health reports: enough to tell which build answers."""
    return {"status": "ok", "name": NAME, "version": _release.version,
            "commit": _release.commit}


def index_page():
    name, version = html.escape(NAME), html.escape(_release.version)
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{name}</title></head>\n"
        f"<body><h1>{name}</h1><p>version {version}</p></body></html>\n"
    )


def _respond(start_response, status, content_type, body, method, extra=()):
    data = body.encode("utf-8")
    headers = [("Content-Type", content_type), ("Content-Length", str(len(data))), *extra]
    start_response(status, headers)
    return [b""] if method == "HEAD" else [data]


def app(environ, start_response):
    """Route one request. Only GET and HEAD are served."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO") or "/"
    routes = {
        "/": lambda: ("text/html; charset=utf-8", index_page()),
        "/health": lambda: ("application/json", json.dumps(health())),
    }
    if path not in routes:
        return _respond(start_response, "404 Not Found", "text/plain; charset=utf-8",
                        "not found\n", method)
    if method not in ("GET", "HEAD"):
        return _respond(start_response, "405 Method Not Allowed", "text/plain; charset=utf-8",
                        "method not allowed\n", method, [("Allow", "GET, HEAD")])
    content_type, body = routes[path]()
    return _respond(start_response, "200 OK", content_type, body, method,
                    [("Cache-Control", "no-store")])
