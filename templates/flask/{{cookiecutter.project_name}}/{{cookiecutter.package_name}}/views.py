"""The routes, on a blueprint that :func:`create_app` registers.

* ``GET /``       -- a small HTML page naming the app and its version
* ``GET /health`` -- JSON that essay polls after a deploy and before a flip; it must
  answer 200 quickly and say which version this process runs

Flask answers 404 for any other path and 405 for another method on these.
"""
from flask import Blueprint, jsonify
from markupsafe import escape

from . import NAME, _release

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    name, version = escape(NAME), escape(_release.version)
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{name}</title></head>\n"
        f"<body><h1>{name}</h1><p>version {version}</p></body></html>\n"
    )


@bp.get("/health")
def health():
    response = jsonify(status="ok", name=NAME, version=_release.version,
                       commit=_release.commit)
    response.headers["Cache-Control"] = "no-store"
    return response
