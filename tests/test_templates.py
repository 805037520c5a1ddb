"""The project templates, end to end: what ``es create`` makes must be a complete project
that passes its own tests, is committed cleanly, and builds into a wheel that serves
its name and version from a fresh virtualenv through gunicorn.

The wheel test needs the package index (for setuptools in the isolated build and for
gunicorn in the venv); it is marked ``slow`` and runs for the default template only.
"""
import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest

from essay import config
from essay.create import create, templates_root

TEMPLATES = ["default", "flask", "django"]
FRAMEWORK = {"default": None, "flask": "flask", "django": "django"}
ENV = dict(os.environ)          # the real environment, for pip's cache and configuration


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """cookiecutter reads ~/.cookiecutterrc and writes replay files under HOME."""
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def run(args, cwd, env=None, timeout=300):
    r = subprocess.run(args, cwd=cwd, env=env or ENV, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r.stdout


def git(cwd, *args):
    return run(["git", *args], cwd).strip()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One project per template, made once for the module: name ``my-app``."""
    cache = {}

    def make(template):
        if template not in cache:
            out = tmp_path_factory.mktemp(template)
            cache[template] = create("my-app", template=template, output_dir=out,
                                     extra_context={"description": 'Says "hi" \\ and more'})
        return cache[template]
    return make


@pytest.mark.parametrize("template", TEMPLATES)
def test_project_has_every_file_and_one_clean_commit(made, template):
    project = made(template)
    for rel in ["pyproject.toml", "README.md", ".gitignore", "my_app/__init__.py",
                "my_app/_release.py", "my_app/wsgi.py", "tests/test_app.py",
                "essay.toml", "fabfile.py", "conf/supervisord.conf.j2", "conf/nginx.conf.j2"]:
        assert (project / rel).is_file(), rel
    for rel in ["fabfile.py", "conf/supervisord.conf.j2", "conf/nginx.conf.j2"]:
        assert (project / rel).read_bytes() == (templates_root() / "common" / rel).read_bytes()
    leftovers = [str(p) for p in project.rglob("*") if ".git" not in p.parts and p.is_file()
                 and "cookiecutter" in p.read_text(encoding="utf-8")]
    assert leftovers == []
    assert len(git(project, "log", "--oneline").splitlines()) == 1
    assert git(project, "status", "--porcelain") == ""


@pytest.mark.parametrize("template", TEMPLATES)
def test_pyproject_builds_the_package_with_the_release_version(made, template):
    data = tomllib.loads((made(template) / "pyproject.toml").read_text())
    assert data["build-system"] == {"requires": ["setuptools>=64"],
                                    "build-backend": "setuptools.build_meta"}
    project = data["project"]
    assert project["name"] == "my-app" and project["dynamic"] == ["version"]
    assert project["description"] == 'Says "hi" \\ and more'
    deps = " ".join(project["dependencies"])
    assert "gunicorn" in deps and (FRAMEWORK[template] or "gunicorn") in deps
    assert data["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "my_app._release.version"}
    assert data["tool"]["setuptools"]["packages"]["find"]["include"] == ["my_app", "my_app.*"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_release_file_has_exactly_the_three_placeholders(made, template):
    source = (made(template) / "my_app" / "_release.py").read_text()
    assignments = {n.targets[0].id: ast.literal_eval(n.value)
                   for n in ast.parse(source).body if isinstance(n, ast.Assign)}
    assert len(ast.parse(source).body) == 3
    assert assignments == {"version": "0.0.0+unreleased", "commit": "", "released": ""}
    assert "es build" in source and "working tree" in source


@pytest.mark.parametrize("template", TEMPLATES)
def test_gitignore_readme_and_essay_toml(made, template):
    project = made(template)
    ignored = (project / ".gitignore").read_text().splitlines()
    for entry in [".essay/", "dist/", "build/", "*.egg-info/", "__pycache__/", ".venv/"]:
        assert entry in ignored
    readme = (project / "README.md").read_text()
    for command in ["es build", "es deploy", "es flip", "fab -l"]:
        assert command in readme
    cfg = config.load(path=project / "essay.toml")
    assert (cfg.name, cfg.package) == ("my-app", "my_app")


@pytest.mark.parametrize("template", TEMPLATES)
def test_generated_tests_pass_without_installing(made, template):
    project = made(template)
    env = {k: v for k, v in ENV.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    out = run([sys.executable, "-m", "pytest", "-q"], project, env=env)
    assert " passed" in out and "failed" not in out
    assert git(project, "status", "--porcelain") == ""   # caches are ignored


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


@pytest.mark.slow
def test_default_wheel_serves_its_version_from_a_fresh_venv(made, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(made("default"), src, ignore=shutil.ignore_patterns(".git"))
    (src / "my_app" / "_release.py").write_text(     # what `es build` does in its tree
        'version = "2026.1.2.3"\ncommit = "0123abc"\nreleased = "2026-01-02T03:04:05Z"\n')
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), "."], src)
    wheel = tmp_path / "dist" / "my_app-2026.1.2.3-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "my_app/wsgi.py" in names and not any(n.startswith("tests/") for n in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--find-links",
         str(tmp_path / "dist"), "my-app==2026.1.2.3"], tmp_path)
    where = run([str(venv / "bin" / "python"), "-c", "import my_app; print(my_app.__file__)"],
                tmp_path)
    assert str(venv) in where

    port = free_port()
    # gunicorn >= 25.1 puts a control socket in $XDG_RUNTIME_DIR or ~/.gunicorn: keep it here.
    env = {k: v for k, v in ENV.items() if k != "XDG_RUNTIME_DIR"} | {"HOME": str(tmp_path)}
    server = subprocess.Popen([str(venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}",
                               "--workers", "1", "my_app.wsgi:application"], cwd=tmp_path,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, ctype, body = get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not answer within 20s"
                time.sleep(0.2)
        assert status == 200 and ctype.startswith("application/json")
        assert json.loads(body) == {"status": "ok", "name": "my-app",
                                    "version": "2026.1.2.3", "commit": "0123abc"}
        status, ctype, body = get(f"http://127.0.0.1:{port}/")
        assert status == 200 and "my-app" in body and "2026.1.2.3" in body
        with pytest.raises(urllib.error.HTTPError) as e:
            get(f"http://127.0.0.1:{port}/nothing-here")
        assert e.value.code == 404
    finally:
        server.terminate()
        server.wait(timeout=10)
