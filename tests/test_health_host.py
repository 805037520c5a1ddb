"""The health programs send ``[deploy] health_host`` as the Host header (fast; no rig).

A real HTTP server that answers like Django with a strict ALLOWED_HOSTS: 200 for
``Host: shop.test``, 400 for anything else (``127.0.0.1:PORT``, what urllib sends by
itself). Every program essay runs on the hosts to judge health -- the deploy's check,
``es release``'s watch after the flip -- must pass with the name and fail without it."""
import http.server
import subprocess
import sys
import threading

import pytest

from essay import health


class StrictHosts(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("Host") == "shop.test"
        body = b'{"version": "1"}' if ok else b"Bad Request (400): Invalid HTTP_HOST header"
        self.send_response(200 if ok else 400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StrictHosts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


def bash(text):
    return subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=30)


def test_the_deploy_check_sends_health_host(url):
    p = bash(health.check(sys.executable, [url], 1, "1", host="shop.test"))
    assert p.returncode == 0 and f"healthy   {url}  version 1" in p.stdout, p.stdout + p.stderr
    p = bash(health.check(sys.executable, [url], 0, "1"))
    assert p.returncode == 3 and "HTTP 400 Bad Request (400)" in p.stdout


def test_the_release_watch_sends_health_host(url):
    p = bash(health.watch(sys.executable, [url], 1.5, host="shop.test"))
    assert p.returncode == 0 and f"healthy for 1.5s: {url}" in p.stdout, p.stdout + p.stderr
    p = bash(health.watch(sys.executable, [url], 5))
    assert p.returncode == 3 and f"UNHEALTHY {url}" in p.stdout, p.stdout + p.stderr
