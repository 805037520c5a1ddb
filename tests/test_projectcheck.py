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
    ({"pyproject": None, "files": {"setup.py": "from setuptools import setup\n"
                                               "setup(name='demo', version='1.0')\n"}},
     "demo/_release.py", "setup.py/setup.cfg has a fixed version ('1.0')"),
    ({"pyproject": None, "files": {"setup.py": "import setuptools\nsetuptools.setup()\n",
                                   "setup.cfg": "[metadata]\nname = demo\nversion = 2.1\n"}},
     "demo/_release.py", "setup.py/setup.cfg has a fixed version ('2.1')"),
])
def test_each_problem_is_named_with_a_fix(tmp_path, kwargs, version_file, expected):
    problems = check(make(tmp_path, **kwargs), "demo", version_file)
    assert problems and expected in problems[0].what, problems
    assert all(p.fix and "\n" not in str(p) for p in problems)


def test_entry_point_comes_from_the_supervisord_template(tmp_path):
    """A project's own template from before [deploy] app (no {{ app }}) serves what its
    gunicorn line names, whatever essay.toml's app (es init and es doctor always pass it)."""
    conf = "command = {{ venv }}/bin/gunicorn --bind 0.0.0.0:{{ port }} {{ package }}.web:wsgi\n"
    root = make(tmp_path, files={"conf/supervisord.conf.j2": conf})
    assert entry_point(root, "demo") == ("demo.web", "wsgi")
    for app in (None, "demo.wsgi:application", "other:app"):
        problems = check(root, "demo", "demo/_release.py", app=app)
        assert len(problems) == 1 and "demo.web:wsgi has no module file" in problems[0].what
        assert "gunicorn line of conf/supervisord.conf.j2" in problems[0].fix
    (root / "demo" / "web.py").write_text("wsgi = object()\n")
    assert check(root, "demo", "demo/_release.py", app="demo.wsgi:application") == []
    # a template that uses {{ app }}: [deploy] app is what is served
    (root / "conf" / "supervisord.conf.j2").write_text(conf.replace("{{ package }}.web:wsgi",
                                                                    "{{ app }}"))
    assert entry_point(root, "demo", "demo.web:wsgi") == ("demo.web", "wsgi")
    problems = check(root, "demo", "demo/_release.py", app="demo.api:app")
    assert "demo.api:app has no module file" in problems[0].what
    assert '[deploy] app = "module:callable"' in problems[0].fix


def test_setup_py_projects_and_src_layouts(tmp_path):
    root = make(tmp_path, pyproject=None, files={"setup.py": "setup(install_requires=['flask'])"})
    assert check(root, "demo", "demo/_release.py") == []
    # a version read at build time (from version_file, say) is not a fixed one
    (root / "setup.py").write_text("setup(version=open('demo/_release.py').read()[11:-2])\n")
    (root / "setup.cfg").write_text("[metadata]\nversion = attr: demo._release.version\n")
    assert check(root, "demo", "demo/_release.py") == []
    (root / "src").mkdir()
    (root / "demo").rename(root / "src" / "demo")
    assert check(root, "demo", "src/demo/_release.py") == []


def test_es_init_warns_about_what_would_make_the_first_build_fail(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text(GOOD_PYPROJECT.replace('"gunicorn>=21.2"', '"flask"'))
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "__init__.py").write_text("")
    p = subprocess.run([sys.executable, "-m", "essay", "init", "--no-input"], cwd=tmp_path,
                       text=True, capture_output=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                            "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    assert p.returncode == 0, p.stderr
    assert "warning: the WSGI entry point demo.wsgi:application has no module file" in p.stderr
    # essay installs the server ([deploy] server) into every colour: not a problem for es init
    assert "gunicorn" not in p.stderr


def test_es_init_on_a_setup_py_project_with_a_fixed_version(tmp_path):
    import os
    import subprocess
    import sys

    root = tmp_path / "demo"      # es init names it after its directory (no setup.cfg)
    root.mkdir()
    make(root, pyproject=None, files={
        "setup.py": "from setuptools import setup\nsetup(name='demo', version='1.0')\n"})
    p = subprocess.run([sys.executable, "-m", "essay", "init", "--no-input"], cwd=root,
                       text=True, capture_output=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                            "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    assert p.returncode == 0, p.stderr
    assert "warning: setup.py/setup.cfg has a fixed version ('1.0')" in p.stderr, p.stderr
    assert "[metadata] version = attr: demo._release.version" in p.stderr
    assert "1 problem(s) to fix before es build" in p.stdout + p.stderr
