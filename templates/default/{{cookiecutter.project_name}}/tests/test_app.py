"""Tests for the web app, calling the WSGI ``application`` directly -- exactly what
gunicorn calls in production, with no server and no network.

Run them with ``python -m pytest`` from the project root.
"""
import io
import json
import time
from wsgiref.util import setup_testing_defaults

from {{ cookiecutter.package_name }} import NAME, _release
from {{ cookiecutter.package_name }}.wsgi import application


def call(path, method="GET", query="", body=b""):
    """Send one request to the app; return (status code, headers dict, body bytes)."""
    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "QUERY_STRING": query,
               "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
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


def test_health_is_json_with_name_version_and_commit():
    status, headers, body = call("/health")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"status": "ok", "name": NAME,
                                "version": _release.version, "commit": _release.commit}


def test_unknown_path_is_404():
    assert call("/no-such-page")[0] == 404


def test_post_to_a_known_path_is_refused():
    assert call("/health", method="POST")[0] == 405


def test_head_has_no_body():
    status, _, body = call("/health", method="HEAD")
    assert status == 200 and body == b""


def test_slow_answers_after_the_seconds_asked():
    start = time.monotonic()
    status, _, body = call("/slow", query="seconds=0.2")
    assert status == 200 and time.monotonic() - start >= 0.2
    assert json.loads(body)["slept"] == 0.2


def test_slow_clamps_what_it_is_asked():
    assert json.loads(call("/slow", query="seconds=-5")[2])["slept"] == 0.0


def test_echo_reads_the_body_and_answers_its_size():
    status, _, body = call("/echo", method="POST", body=b"x" * 1000)
    assert status == 200 and json.loads(body)["bytes"] == 1000
    assert call("/echo")[0] == 405


def test_env_shows_essays_variables_and_the_test_variable_only(monkeypatch):
    monkeypatch.setenv("ECHO_TEST_VALUE", "hello")
    monkeypatch.setenv("SECRET_KEY", "never shown")
    status, _, body = call("/env")
    assert status == 200 and json.loads(body)["ECHO_TEST_VALUE"] == "hello"
    assert b"never shown" not in body and "SECRET_KEY" not in json.loads(body)
