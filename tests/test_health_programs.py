"""The programs essay runs on the hosts to judge health (essay/health.py), against a real
local HTTP server (no rig): the socket GET they share follows redirects and reads
``"version"`` with or without json; a fleet's URLs are asked concurrently; the flip's
check through nginx tells "another colour" from "no header" and "no answer"; every program
sends ``[deploy] health_host`` as the Host header (the deploy's check, ``es release``'s watch
after its flip) -- an app that checks Host (Django's ALLOWED_HOSTS) passes with the name and
fails without it."""
import http.server
import json
import subprocess
import sys
import threading
import time

import pytest

from essay import health


class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/health")
            self.end_headers()
            return
        if path == "/slow":
            time.sleep(0.3)
        bodies = {"/escaped": b'{"version": "1\\u002e0"}', "/nested":
                  b'{"app": {"version": "1.0"}, "version": "2.0"}', "/plain": b"ok",
                  "/boom": b"<h1>Server   Error</h1>\n" * 20}
        body = bodies.get(path, json.dumps({"name": "x", "version": "1.0"}).encode())
        self.send_response(500 if path == "/boom" else 200)
        if path == "/host":   # the Host header it was sent, as the colour
            self.send_header("X-Essay-Color", self.headers.get("Host", ""))
        elif path != "/nocolor":
            self.send_header("X-Essay-Color", "b")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class StrictHosts(http.server.BaseHTTPRequestHandler):
    """Like Django with a strict ALLOWED_HOSTS: 200 for ``Host: shop.test``, 400 for anything
    else (``127.0.0.1:PORT``, what a client sends by itself)."""

    def do_GET(self):
        ok = self.headers.get("Host") == "shop.test"
        body = b'{"version": "1"}' if ok else b"Bad Request (400): Invalid HTTP_HOST header"
        self.send_response(200 if ok else 400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(handler):
    """A real HTTP server on a free loopback port for the module; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def base():
    yield from serve(App)


@pytest.fixture(scope="module")
def strict():
    """The health URL of a server that checks Host ([deploy] health_host)."""
    for url in serve(StrictHosts):
        yield url + "/health"


def bash(*parts):
    """Run shell text (given in parts, as health.serves returns it: definitions, call)."""
    return subprocess.run(["bash", "-c", "\n".join(parts)], capture_output=True, text=True,
                          timeout=60)


def lines(p):
    return [line for line in p.stdout.splitlines() if not line.startswith("::essay::")]


def test_redirects_escaped_and_plain_bodies(base):
    urls = [f"{base}/health", f"{base}/moved", f"{base}/escaped", f"{base}/plain"]
    p = bash(health.check(sys.executable, urls, 1, "1.0"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert lines(p) == [f"healthy   {base}/health  version 1.0",
                        f"healthy   {base}/moved  version 1.0",
                        f"healthy   {base}/escaped  version 1.0",
                        f"healthy   {base}/plain  version ?"]


def test_the_top_level_version_counts_not_a_nested_one(base):
    p = bash(health.check(sys.executable, [f"{base}/nested"], 0, "1.0"))
    assert p.returncode == 3
    assert "HTTP 200 from version 2.0, expected 1.0" in p.stdout


def test_errors_are_one_line_each(base):
    p = bash(health.check(sys.executable, [f"{base}/boom", "http://127.0.0.1:1/health"], 0))
    assert p.returncode == 3
    assert lines(p) == [
        f"UNHEALTHY {base}/boom  last answer: HTTP 500 " + ("<h1>Server Error</h1> " * 5)[:100]
        + "...",
        "UNHEALTHY http://127.0.0.1:1/health  last answer: ConnectionRefusedError: "
        "[Errno 111] Connection refused"]


def test_a_fleet_of_urls_is_asked_concurrently(base):
    """64 URLs answering in 0.3 s each: one after another that is 19 s; 32 at a time, ~1 s."""
    urls = [f"{base}/slow?{i}" for i in range(64)]
    t = time.monotonic()
    p = bash(health.check(sys.executable, urls, 0, "1.0"))
    assert p.returncode == 0 and len(lines(p)) == 64, p.stdout[-500:] + p.stderr
    assert time.monotonic() - t < 10


def test_the_check_through_nginx(base):
    """Bash alone (/dev/tcp), against a real server: the colour, another colour (9), no
    header, no answer, and the Host header sent."""
    port = int(base.rsplit(":", 1)[1])
    ok = bash(*health.serves(port, "/x", "", "b"))
    assert ok.returncode == 0 and ok.stdout.strip() == "nginx serves colour b", ok.stdout
    other = bash(*health.serves(port, "/x", "", "a"))
    assert other.returncode == 9 and "still serves colour b, not a" in other.stdout
    bare = bash(*health.serves(port, "/nocolor", "", "a"))
    assert bare.returncode == 0 and "without X-Essay-Color" in bare.stdout
    gone = bash(*health.serves(1, "/", "", "a"))
    assert gone.returncode == 0 and "does not answer" in gone.stdout, gone.stdout + gone.stderr
    assert gone.stderr == ""


def test_the_check_through_nginx_sends_the_host(base):
    port = int(base.rsplit(":", 1)[1])
    assert bash(*health.serves(port, "/host", "shop.test", "shop.test")).returncode == 0
    assert bash(*health.serves(port, "/host", "", f"127.0.0.1:{port}")).returncode == 0


def test_the_release_watch_counts_non_2xx_as_strikes(base):
    p = bash(health.watch(sys.executable, [f"{base}/boom"], 5))
    assert p.returncode == 3 and f"UNHEALTHY {base}/boom: HTTP 500" in p.stdout


def test_the_deploy_check_sends_health_host(strict):
    p = bash(health.check(sys.executable, [strict], 1, "1", host="shop.test"))
    assert p.returncode == 0 and f"healthy   {strict}  version 1" in p.stdout, p.stdout + p.stderr
    p = bash(health.check(sys.executable, [strict], 0, "1"))
    assert p.returncode == 3 and "HTTP 400 Bad Request (400)" in p.stdout


def test_the_release_watch_sends_health_host(strict):
    p = bash(health.watch(sys.executable, [strict], 1.5, host="shop.test"))
    assert p.returncode == 0 and f"healthy for 1.5s: {strict}" in p.stdout, p.stdout + p.stderr
    p = bash(health.watch(sys.executable, [strict], 5))
    assert p.returncode == 3 and f"UNHEALTHY {strict}" in p.stdout, p.stdout + p.stderr
