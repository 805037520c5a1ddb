"""The web app: a plain WSGI callable, no framework.

WSGI in one paragraph: the server (gunicorn) calls ``app(environ, start_response)`` once
per request. ``environ`` is a dict of CGI-style variables (``REQUEST_METHOD``,
``PATH_INFO``, ...); the app calls ``start_response(status, headers)`` and returns an
iterable of bytes -- the body. That is the whole protocol; frameworks are built on it.

Routes:

* ``GET /``       -- a small HTML page naming the app and its version
* ``GET /health`` -- JSON that essay polls after a deploy and before a flip; it must
  answer 200 quickly and say which version this process runs
* ``GET /slow?seconds=S`` -- answers after S seconds (default 3, at most 30): a slow
  request, to watch a deploy or flip let in-flight requests finish
* ``POST /echo``  -- reads the request body and answers its size as JSON: a request with
  a body, for load tests
* ``GET /env``    -- JSON of ESSAY_COLOR, ESSAY_VERSION, ESSAY_ENV and ECHO_TEST_VALUE
  from the process environment: which colour/environment answers, and one variable that
  exists for tests of `es secrets` (never echo a real secret)
* anything else   -- 404 (405 for a known path with another method)
"""
import html
import json
import os
import time
from urllib.parse import parse_qs

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


def slow(environ):
    """Sleep for ``?seconds=`` (default 3, clamped to 0..30), then say how long."""
    try:
        seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["3"])[0])
    except ValueError:
        seconds = 3.0
    seconds = min(max(seconds, 0.0), 30.0)
    time.sleep(seconds)
    return json.dumps({"slept": seconds, "version": _release.version})


def echo(environ):
    """The size of the request body, read in full."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    return json.dumps({"bytes": len(body), "version": _release.version})


#: what GET /env shows: essay's own variables and the one documented test variable
ENV_SHOWN = ("ESSAY_COLOR", "ESSAY_VERSION", "ESSAY_ENV", "ECHO_TEST_VALUE")


def env():
    return json.dumps({k: os.environ.get(k) for k in ENV_SHOWN})


def _respond(start_response, status, content_type, body, method, extra=()):
    data = body.encode("utf-8")
    headers = [("Content-Type", content_type), ("Content-Length", str(len(data))), *extra]
    start_response(status, headers)
    return [b""] if method == "HEAD" else [data]


def app(environ, start_response):
    """Route one request: GET and HEAD, and POST on /echo."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO") or "/"
    routes = {       # path: (allowed methods, what answers)
        "/": (("GET", "HEAD"), lambda: ("text/html; charset=utf-8", index_page())),
        "/health": (("GET", "HEAD"), lambda: ("application/json", json.dumps(health()))),
        "/slow": (("GET", "HEAD"), lambda: ("application/json", slow(environ))),
        "/echo": (("POST",), lambda: ("application/json", echo(environ))),
        "/env": (("GET", "HEAD"), lambda: ("application/json", env())),
    }
    if path not in routes:
        return _respond(start_response, "404 Not Found", "text/plain; charset=utf-8",
                        "not found\n", method)
    allowed, answer = routes[path]
    if method not in allowed:
        return _respond(start_response, "405 Method Not Allowed", "text/plain; charset=utf-8",
                        "method not allowed\n", method, [("Allow", ", ".join(allowed))])
    content_type, body = answer()
    return _respond(start_response, "200 OK", content_type, body, method,
                    [("Cache-Control", "no-store")])
