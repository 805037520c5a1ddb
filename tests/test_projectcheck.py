"""essay.projectcheck: is a project buildable? Pure checks on files in a temporary tree."""
import pytest

from essay.projectcheck import check, entry_point

GOOD_PYPROJECT = '''
[project]
name = "demo"
dynamic = ["version"]
dependencies = ["gunicorn>=21.2"]
[tool.setuptools.dynamic]
version = {attr = "demo._release.version"}
'''


def make(tmp_path, pyproject=GOOD_PYPROJECT, wsgi="from .app import app as application\n",
         release=True, files=None):
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    pkg = tmp_path / "demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    if release:
        (pkg / "_release.py").write_text('version = "0"\n')
    if wsgi is not None:
        (pkg / "wsgi.py").write_text(wsgi)
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_generated_project_passes(tmp_path):
    assert check(make(tmp_path), "demo", "demo/_release.py") == []


@pytest.mark.parametrize("kwargs, version_file, expected", [
    ({"pyproject": None}, "demo/_release.py", "no pyproject.toml or setup.py"),
    ({"pyproject": "[project\n"}, "demo/_release.py", "not valid TOML"),
    ({}, "nowhere/_release.py", "directory nowhere/ does not exist"),
    ({"pyproject": GOOD_PYPROJECT.replace('dynamic = ["version"]', 'version = "1.0"')},
     "demo/_release.py", "fixed version"),
    ({"pyproject": GOOD_PYPROJECT.replace("demo._release.version", "demo.about.version")},
     "demo/_release.py", "takes the version from 'demo.about.version'"),
    ({"wsgi": None}, "demo/_release.py", "demo.wsgi:application has no module file"),
    ({"wsgi": "app = 1\n"}, "demo/_release.py", "does not define 'application'"),
    ({"wsgi": "def (:\n"}, "demo/_release.py", "does not parse"),
    ({"pyproject": GOOD_PYPROJECT.replace('"gunicorn>=21.2"', '"flask"')}, "demo/_release.py",
     "gunicorn is not among the runtime dependencies"),
])
def test_each_problem_is_named_with_a_fix(tmp_path, kwargs, version_file, expected):
    problems = check(make(tmp_path, **kwargs), "demo", version_file)
    assert problems and expected in problems[0].what, problems
    assert all(p.fix and "\n" not in str(p) for p in problems)


def test_entry_point_comes_from_the_supervisord_template(tmp_path):
    conf = "command = {{ venv }}/bin/gunicorn --bind 0.0.0.0:{{ port }} {{ package }}.web:wsgi\n"
    root = make(tmp_path, files={"conf/supervisord.conf.j2": conf})
    assert entry_point(root, "demo") == ("demo.web", "wsgi")
    assert "demo.web:wsgi has no module file" in check(root, "demo", "demo/_release.py")[0].what


def test_setup_py_projects_and_src_layouts(tmp_path):
    root = make(tmp_path, pyproject=None, files={"setup.py": "setup(install_requires=['gunicorn'])"})
    assert check(root, "demo", "demo/_release.py") == []
    (root / "src").mkdir()
    (root / "demo").rename(root / "src" / "demo")
    assert check(root, "demo", "src/demo/_release.py") == []


def test_es_init_warns_about_what_would_make_the_first_build_fail(tmp_path):
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text(GOOD_PYPROJECT.replace('"gunicorn>=21.2"', '"flask"'))
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "__init__.py").write_text("")
    p = subprocess.run([sys.executable, "-m", "essay", "init", "--no-input"], cwd=tmp_path,
                       text=True, capture_output=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    assert "warning: the WSGI entry point demo.wsgi:application has no module file" in p.stderr
    # essay installs the server ([deploy] server) into every colour: not a problem for es init
    assert "gunicorn is not among the runtime dependencies" not in p.stderr
