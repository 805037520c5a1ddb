"""Helpers for the server tests: start a real ``es server`` (a subprocess), log in, post
forms with their CSRF token, send signed webhooks."""
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar

from rig_project import free_port, wait_port


@contextlib.contextmanager
def redis_server(directory):
    """A real redis-server (Debian's) on a free port, nothing saved; yields its URL."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_port("127.0.0.1", port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def worker(path, env, threads=1, queue=None):
    """An ``es server worker`` process in ``path``; with ``queue`` (its Redis URL) returned
    only once it waits on Redis for jobs (its process holds a connection to the Redis port:
    huey's worker threads poll)."""
    log = open(os.path.join(path, f".essay-worker-{time.monotonic_ns()}.log"), "w+")
    proc = subprocess.Popen([sys.executable, "-m", "essay", "server", "worker", "--threads",
                             str(threads)], cwd=path, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    if queue is not None:
        port = queue.rsplit(":", 1)[1].split("/")[0]
        end = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise AssertionError(f"the worker exited {proc.returncode}:\n{log.read()}")
            ss = subprocess.run(["ss", "-Htnp", "state", "established", f"( dport = :{port} )"],
                                capture_output=True, text=True, check=True).stdout
            if f"pid={proc.pid}," in ss:
                return proc
            assert time.monotonic() < end, f"worker {proc.pid} not polling Redis after 60 s"
            time.sleep(0.1)
    return proc


class Server:
    """``es server`` in ``path`` on a free port (``--host host``); ``stop()`` sends SIGTERM,
    ``restart()`` stops it and starts a new one on the same data, address and port."""

    def __init__(self, path, env, *extra, host="127.0.0.1"):
        self.path, self.env, self.extra, self.host = path, env, extra, host
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.log_path = os.path.join(path, ".essay-server-test.log")
        self._start()

    def _start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "essay", "server", "--host",
                                      self.host, "--port", str(self.port), *self.extra],
                                     cwd=self.path, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_port(self.host, self.port, 30)

    def stop(self, timeout=60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.log.close()
        return code

    def restart(self, host=None) -> int:
        """SIGTERM, wait for the exit, start anew (``--host host`` if given); the old
        process's exit status."""
        code = self.stop()
        self.host = host or self.host
        self.url = f"http://{self.host}:{self.port}"
        self._start()
        return code

    def output(self) -> str:
        """Everything the server processes printed so far."""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def add_user(path, env, name, role, password="correct horse"):
    p = subprocess.run([sys.executable, "-m", "essay", "server", "user", "add", name,
                        "--role", role], cwd=path, env=env, input=password + "\n",
                       text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    return password


class Browser:
    """A cookie-keeping HTTP client (urllib) that fills in the CSRF token of forms."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect)

    def request(self, path, data=None, headers=None, method=None):
        body = data if isinstance(data, (bytes, type(None))) else \
            urllib.parse.urlencode(data).encode()
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {},
                                     method=method)
        try:
            with self.opener.open(req, timeout=120) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    def get(self, path):
        return self.request(path)

    def csrf(self, path="/login"):
        _, html, _ = self.get(path)
        m = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert m, html[:500]
        return m.group(1)

    def post(self, path, form, token_from="/login", csrf=True):
        form = dict(form)
        if csrf:
            form["csrf_token"] = self.csrf(token_from)
        return self.request(path, form)

    def login(self, name, password):
        return self.post("/login", {"name": name, "password": password})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


def wait_job(browser, job_id, timeout=300, states=("done", "failed", "lost")):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status, body, _ = browser.get(f"/jobs/{job_id}/lines")
        data = json.loads(body)
        if data["state"] in states:
            return data
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end within {timeout}s: {data}")
