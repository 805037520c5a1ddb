"""The index behind nginx, as ``es pypi nginx-conf`` writes it: nginx serves the package
files from disk, pypiserver (``es pypi serve``, waitress with ``[index] threads``) the
simple pages and uploads.

On the session rig: an nginx in the root namespace on the bridge address (where the
index runs), its site the one ``es pypi nginx-conf`` prints, in front of the session
project's real pypiserver. A copy of the project with ``[index] url`` pointing at nginx
builds (the upload goes through nginx) and deploys to the web hosts under a prefix of its
own; nginx's access log (with ``$upstream_addr``: ``-`` when nginx answered itself) shows
the wheels were served by nginx, and pypiserver's log that it never sent one. Then 100
clients at once (50 in each web host's namespace) fetch the simple page and the wheel
through nginx and the simple page from pypiserver directly: zero failures, counted by the
clients and by both servers' logs.
"""
import json
import re
import shutil
import subprocess

import pytest

from index_load import CLIENT
from rig_nginx import MAIN_CONF, NGINX
from rig_project import Project, free_port, wait_port
from rig_util import uv_on_hosts

pytestmark = [pytest.mark.rig, pytest.mark.slow]
PREFIX, STATE = "~/demo-ix", "~/demo-ix.essay"    # its own colours, its own lb state
LOG_FORMAT = ("log_format index '$remote_addr \"$request\" $status $body_bytes_sent "
              "upstream=$upstream_addr';\n")
LINE = re.compile(r'^(\S+) "(\S+) (\S+) [^"]*" (\d{3}) (\d+) upstream=(\S+)$', re.M)
CLIENTS_PER_HOST = 50



class Log:
    """A log file read from a mark on."""

    def __init__(self, path):
        self.path, self.at = path, 0

    def mark(self):
        with open(self.path, "rb") as f:
            self.at = f.seek(0, 2)

    def text(self):
        with open(self.path, "rb") as f:
            f.seek(self.at)
            return f.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def index(rig, project, tmp_path_factory):
    """nginx (the site ``es pypi nginx-conf`` prints) in front of the session index; a
    copy of the project whose [index] url is nginx. Yields (copy, nginx log, index log)."""
    d = tmp_path_factory.mktemp("index-nginx")
    port = free_port()
    site = project.es("pypi", "nginx-conf", "--listen", f"{rig.index_address}:{port}",
                      "--backend", f"{rig.index_address}:{project.port}", check=True).stdout
    (d / "conf.d").mkdir()
    (d / "tmp").mkdir()
    (d / "conf.d" / "index.conf").write_text(site)
    # root's nginx: its workers must read the package directory (under pytest's 0700 tmp)
    main = MAIN_CONF.format(d=d).replace(f"access_log {d}/access.log;",
                                         LOG_FORMAT + f"    access_log {d}/access.log index;")
    (d / "nginx.conf").write_text("user root;\n" + main)
    nginx = [NGINX, "-c", f"{d}/nginx.conf", "-p", f"{d}/", "-e", f"{d}/error.log"]
    subprocess.run([*nginx, "-t"], check=True, capture_output=True)
    subprocess.run(nginx, check=True)
    try:
        wait_port(rig.index_address, port)
        uv_on_hosts()
        path = d / "demo"
        shutil.copytree(project.path, path, ignore=shutil.ignore_patterns(".essay"))
        copy = Project(rig, path, port)            # url and upload_url: nginx
        copy.write_config()
        text = (path / "essay.toml").read_text()
        text = text.replace('prefix = "~/demo"', f'prefix = "{PREFIX}"')
        text = text.replace("processes = 2", 'processes = 1\ninstaller = "uv"')
        text = text.replace("a = 8800\nb = 8810", "a = 8840\nb = 8850")
        text = text.replace("listen = 8080", f'listen = 8080\nstate_dir = "{STATE}"')
        (path / "essay.toml").write_text(text)
        copy.git("commit", "-qam", "the index through nginx")
        yield copy, Log(d / "access.log"), Log(project.server_log)
    finally:
        for h in rig.web:
            rig.sh(h, f"d={PREFIX}/a; [ -x $d/bin/supervisorctl ] && $d/bin/supervisorctl "
                      f"-c $d/etc/supervisord.conf shutdown; rm -rf {PREFIX}", check=False)
        for h in rig.lbs:
            rig.sh(h, f"rm -rf {STATE}", check=False)
        subprocess.run([*nginx, "-s", "stop"], check=False)


def test_deploy_installs_the_wheels_nginx_serves(rig, project, index):
    copy, nginx_log, index_log = index
    creds = json.loads((project.path / ".essay" / "credentials.json").read_text())
    env = copy.env()
    env.update(TWINE_USERNAME=creds["username"], TWINE_PASSWORD=creds["password"])
    proc = copy.es("build", check=True, env=env)            # uploaded through nginx
    version = proc.stdout.strip().splitlines()[-1]
    wheel = f"demo-{version}-py3-none-any.whl"
    uploads = [m for m in LINE.finditer(nginx_log.text()) if m[2] == "POST"]
    assert [(m[4], m[6] != "-") for m in uploads] == [("200", True)] * 2, nginx_log.text()

    nginx_log.mark()
    index_log.mark()
    copy.es("deploy", version, "--color", "a", check=True, timeout=300)
    for h in rig.web:
        status, body = rig.http_get(h, 8840, "/health")
        assert status == 200 and json.loads(body)["version"] == version, (h, body)

    lines = list(LINE.finditer(nginx_log.text()))
    files = [m for m in lines if m[3].startswith("/packages/")]
    hosts = {rig.address(h) for h in rig.web}
    got = {m[1] for m in files if (m[2], m[3], m[4]) == ("GET", f"/packages/{wheel}", "200")}
    assert got == hosts, nginx_log.text()                   # every host fetched the wheel
    # uv reads a wheel's metadata with a HEAD and range requests (206): nginx's too
    assert all(m[4] in ("200", "206") and m[6] == "-" for m in files), nginx_log.text()
    assert any(m[3].startswith("/simple/demo") and m[6] != "-" for m in lines)  # proxied
    assert f"/packages/{wheel}" not in index_log.text()    # pypiserver sent no wheel


def test_a_hundred_clients_at_once_none_fails(rig, project, index):
    copy, nginx_log, index_log = index
    nginx_log.mark()
    index_log.mark()
    rounds, results = 2, {}
    procs = {h: subprocess.Popen(
        ["ip", "netns", "exec", rig.netns(h), "/usr/bin/python3", "-I", "-c", CLIENT,
         rig.index_address, str(copy.port), str(project.port), "/simple/demo/",
         str(CLIENTS_PER_HOST), str(rounds)], stdout=subprocess.PIPE, text=True)
        for h in rig.web}
    for h, p in procs.items():
        out, _ = p.communicate(timeout=120)
        results[h] = json.loads(out)
    n = CLIENTS_PER_HOST * len(rig.web) * rounds              # of each kind of request
    print("index under", CLIENTS_PER_HOST * len(rig.web), "clients:", results)
    assert [f for r in results.values() for f in r["failed"]] == []
    assert sum(r["ok"] for r in results.values()) == 3 * n
    lines = list(LINE.finditer(nginx_log.text()))
    assert sorted({m[4] for m in lines}) == ["200"], nginx_log.text()
    assert sum(m[3].startswith("/packages/") and m[6] == "-" for m in lines) == n
    assert sum(m[3] == "/simple/demo/" and m[6] != "-" for m in lines) == n
    statuses = re.findall(r"^(\d{3}) [A-Z]", index_log.text(), re.M)
    assert len(statuses) == 2 * n and set(statuses) == {"200"}, index_log.text()[-2000:]
