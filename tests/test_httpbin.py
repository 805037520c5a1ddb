"""A real third-party project essay did not write: httpbin, from its PyPI sdist, with
``es init --fix`` and essay.toml keys only (no edit to essay's templates, none to
httpbin's code) -- synced, built, deployed into both colours and flipped through the lb.

Beside the session's ``demo`` on the same rig: ports 8920/8930, nginx site on port 8082,
its own index. Needs pypi.org (pip download of the sdist and of its dependencies), like
every `es pypi sync`."""
import json
import re
import subprocess
import sys

import pytest

from rig_project import Project, free_port, serving

pytestmark = [pytest.mark.rig, pytest.mark.slow]
WEB = ["web1", "web2"]
LISTEN = 8082
KEYS = '''app = "httpbin:app"
health_path = "/get"
'''


def es(project, *args, ok=True):
    p = project.es(*args, check=ok is True)
    assert ok is not False or p.returncode != 0, p.stdout + p.stderr
    return p


@pytest.fixture(scope="module")
def httpbin(rig, tmp_path_factory):
    work = tmp_path_factory.mktemp("httpbin")
    dl = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                         ":all:", "--dest", str(work / "dl"), "httpbin==0.10.4"],
                        capture_output=True, text=True, timeout=300)
    assert dl.returncode == 0, f"the httpbin sdist is not reachable from pip:\n{dl.stderr}"
    sdist = next((work / "dl").glob("httpbin-*.tar.gz"))
    subprocess.run(["tar", "xzf", str(sdist), "--no-same-owner", "-C", str(work)], check=True)
    path = work / "httpbin-0.10.4"
    project = Project(rig, path, free_port())
    project.git("init", "-q", "-b", "main")
    project.git("add", "-A")
    project.git("commit", "-qm", "httpbin 0.10.4 from its PyPI sdist")
    p = es(project, "init", "--no-input", "--fix")
    assert "changed pyproject.toml" in p.stderr and "changed httpbin/_release.py" in p.stderr
    assert "httpbin.wsgi:application has no module file" in p.stderr   # until [deploy] app
    text = rig.essay_toml("httpbin", index_url=project.index_url,
                          upload_url=f"http://{rig.index_address}:{project.port}/")
    text = text.replace('health_path = "/health"\n', KEYS)
    text = text.replace("a = 8800\nb = 8810", "a = 8920\nb = 8930")
    text = text.replace("demo.conf", "httpbin.conf").replace("listen = 8080",
                                                             f"listen = {LISTEN}")
    (path / "essay.toml").write_text(text)
    p = es(project, "init", "--no-input")
    assert "problem" not in p.stderr, p.stderr     # nothing left to fix
    project.git("add", "-A")
    project.git("commit", "-qm", "es init --fix; essay.toml for the rig")
    with serving(project, work, prefix="~/httpbin"):
        yield project


def test_httpbin_from_its_sdist_builds_deploys_and_flips(rig, httpbin):
    v1 = httpbin.build()
    assert re.fullmatch(r"\d{4}\.\d+\.\d+\.\d+", v1)
    es(httpbin, "deploy", v1, "--color", "a")
    es(httpbin, "flip", "a")
    status, body = rig.http_get(rig.lb, LISTEN, "/get?x=1")
    assert status == 200 and json.loads(body)["args"] == {"x": "1"}
    # gunicorn is only in httpbin's "mainapp" extra: essay installed it ([deploy] server)
    v2 = httpbin.build()
    es(httpbin, "deploy", v2, "--color", "b")
    es(httpbin, "flip", "b")
    status, body = rig.http_get(rig.lb, LISTEN, "/status/418")
    assert status == 418
    p = es(httpbin, "status")
    assert v2 in p.stdout and "live colour: b" in p.stderr
