"""essay installed from its own wheel in a fresh venv: templates ship inside the package,
`es create` works, and `fab -l` in the new project lists essay's tasks."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp),
                    str(REPO)], check=True)
    wheel = next(tmp.glob("essay-*.whl"))
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    subprocess.run([str(env_dir / "bin" / "pip"), "install", "-q",
                    "--disable-pip-version-check", str(wheel)], check=True)
    return env_dir


def run(venv, *args, cwd):
    env = dict(os.environ, PATH=f"{venv}/bin:{os.environ['PATH']}", HOME=str(cwd))
    env.pop("PYTHONPATH", None)
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True)


def test_create_and_fab_list_from_the_wheel(venv, tmp_path):
    r = run(venv, "es", "create", "demo", "--no-input", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    proj = tmp_path / "demo"
    for f in ("essay.toml", "fabfile.py", "conf/nginx.conf.j2", "conf/supervisord.conf.j2",
              ".gitignore", "demo/wsgi.py", "tests/test_app.py"):
        assert (proj / f).exists(), f
    r = run(venv, "fab", "-l", cwd=proj)
    assert r.returncode == 0, r.stderr
    for task in ("deploy", "flip", "rollback", "build", "status", "pypi.serve", "lock.break"):
        assert task in r.stdout
    assert run(venv, "es", "config", cwd=proj / "demo").returncode == 0  # found upward


def test_bad_name_writes_nothing(venv, tmp_path):
    r = run(venv, "es", "create", "no good", "--no-input", cwd=tmp_path)
    assert r.returncode != 0
    assert "no good" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("template", ["flask", "django"])
def test_other_templates_create(venv, tmp_path, template):
    r = run(venv, "es", "create", f"my-{template}", "--template", template, "--no-input",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / f"my-{template}" / f"my_{template}" / "wsgi.py").exists()
