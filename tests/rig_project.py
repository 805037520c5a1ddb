"""A project on the rig: made by ``es create``, configured for the rig's hosts, with its
own pypiserver running and filled by ``es pypi sync``. Used by tests/conftest.py and by
bench/."""
import contextlib
import os
import socket
import subprocess
import sys
import time


class Project:
    """``project.es(*args)`` runs the real ``es`` CLI in the project (a subprocess with
    HOME=rig.home) and returns the CompletedProcess; ``project.build()`` builds and
    uploads, returning the version."""

    def __init__(self, rig, path, port):
        self.rig, self.path, self.port = rig, path, port
        self.index_url = f"http://{rig.index_address}:{port}/simple/"

    def env(self, **extra):
        env = dict(os.environ, HOME=self.rig.home, NO_COLOR="1", **extra)
        env.pop("TWINE_USERNAME", None)
        env.pop("TWINE_PASSWORD", None)
        return env

    @staticmethod
    def es_argv(*args):
        return [sys.executable, "-m", "essay", *map(str, args)]

    def es(self, *args, check=False, timeout=300, env=None, cwd=None):
        proc = subprocess.run(self.es_argv(*args),
                              cwd=cwd or self.path, env=env or self.env(), text=True,
                              capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"es {' '.join(map(str, args))} exited {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def build(self, *args) -> str:
        return self.es("build", *args, check=True).stdout.strip().splitlines()[-1]

    def git(self, *args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              cwd=self.path, check=True, capture_output=True, text=True).stdout

    def write_config(self, extra="", web=None, index_url=None):
        text = self.rig.essay_toml("demo", index_url=index_url or self.index_url,
                                   upload_url=f"http://{self.rig.index_address}:{self.port}/",
                                   extra=extra)
        if web is not None:
            import re
            text = re.sub(r"^web = .*$", "web = [" + ", ".join(f'"{h}"' for h in web) + "]",
                          text, flags=re.M)
        (self.path / "essay.toml").write_text(text)
        self.git("commit", "-qam", "essay.toml for the rig", "--allow-empty")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


@contextlib.contextmanager
def serving(proj, workdir, prefix=None):
    """The project's index served on the rig (``es pypi serve``) and synced (``es pypi
    sync``, what it printed kept as ``proj.synced``); at the end, the server stopped and --
    with ``prefix`` (e.g. ``~/shop``) --
    every colour's supervisord under it on the web hosts shut down and the prefix removed."""
    proj.server_log = os.path.join(workdir, "pypiserver.log")
    log = open(proj.server_log, "w")
    server = subprocess.Popen([sys.executable, "-m", "essay", "pypi", "serve", "--host",
                               proj.rig.index_address, "--port", str(proj.port)],
                              cwd=proj.path, env=proj.env(), stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        wait_port(proj.rig.index_address, proj.port)
        proj.synced = proj.es("pypi", "sync", check=True, timeout=900)   # what it said
        yield proj
    finally:
        for h in proj.rig.web if prefix else []:
            proj.rig.sh(h, f"for d in {prefix}/*/; do [ -x \"$d/bin/supervisorctl\" ] && "
                           "\"$d/bin/supervisorctl\" -c \"$d/etc/supervisord.conf\" shutdown; "
                           f"done; rm -rf {prefix}", check=False)
        server.terminate()
        server.wait(10)
        log.close()


@contextlib.contextmanager
def running_project(rig, workdir, name="demo"):
    """Create the project in ``workdir``, serve its index on the rig, sync; yield it."""
    from essay.create import create

    path = create(name, output_dir=str(workdir), no_input=True)
    proj = Project(rig, path, free_port())
    proj.write_config()
    with serving(proj, workdir) as proj:
        yield proj
