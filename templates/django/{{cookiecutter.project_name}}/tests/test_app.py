"""Tests for the web app, calling the WSGI ``application`` directly -- exactly what
gunicorn calls in production, with no server and no network.

Run them with ``python -m pytest`` from the project root.
"""
import io
import json
import os
import subprocess
import sys
from wsgiref.util import setup_testing_defaults

from {{ cookiecutter.package_name }} import NAME, _release
from {{ cookiecutter.package_name }}.wsgi import application  # sets DJANGO_SETTINGS_MODULE


def call(path, method="GET"):
    """Send one request to the app; return (status code, headers dict, body bytes)."""
    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(application(environ, start_response))
    return int(seen["status"].split()[0]), seen["headers"], body


def test_index_names_the_app_and_its_version():
    status, headers, body = call("/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert NAME in body.decode() and _release.version in body.decode()


def test_index_links_the_site_stylesheet():
    # a checkout has nothing collected: the plain name; on a host, the hashed one
    body = call("/")[2].decode()
    assert '<link rel="stylesheet" href="/static/{{ cookiecutter.package_name }}/site.css">' in body


def test_health_is_json_with_name_version_and_commit():
    status, headers, body = call("/health")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"status": "ok", "name": NAME,
                                "version": _release.version, "commit": _release.commit}


def test_unknown_path_is_404():
    assert call("/no-such-page")[0] == 404


def test_post_to_a_known_path_is_refused():
    # 403 from the CSRF middleware (no token), before the view's own 405 for non-GET.
    assert call("/health", method="POST")[0] in (403, 405)


def test_head_is_answered():
    # Django leaves dropping a HEAD response's body to the server (gunicorn does it).
    status, headers, _ = call("/health", method="HEAD")
    assert status == 200 and headers["Content-Type"].startswith("application/json")


def test_on_a_host_without_secret_key_the_settings_refuse_to_load():
    # essay's exec wrapper sets ESSAY_COLOR on a host: there, no silent development key
    env = {k: v for k, v in os.environ.items()
           if k not in ("SECRET_KEY", "DJANGO_SECRET_KEY", "DJANGO_DEBUG")}
    code = "import {{ cookiecutter.package_name }}.settings"
    p = subprocess.run([sys.executable, "-c", code], env={**env, "ESSAY_COLOR": "a"},
                       capture_output=True, text=True)
    assert p.returncode != 0 and "es secrets set SECRET_KEY" in p.stderr
    p = subprocess.run([sys.executable, "-c", code + "; print({{ cookiecutter.package_name }}"
                        ".settings.SECRET_KEY)"], capture_output=True, text=True,
                       env={**env, "ESSAY_COLOR": "a", "SECRET_KEY": "from-the-host"})
    assert p.returncode == 0 and p.stdout.strip() == "from-the-host"
