"""es init's version fix (essay.initfix): a fixed pyproject version made dynamic from
[build] version_file, and the _release.py placeholders. Pure and fast."""
import tomllib

from essay import initfix

HTTPBIN = '''\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project.urls]
pypi = "https://pypi.org/project/httpbin/"

[project]
name = "httpbin"
version = "0.10.4"
requires-python = ">=3.8"
dependencies = [
    "flask >= 2.2.4",
]

[project.optional-dependencies]
mainapp = ["gunicorn"]

[tool.setuptools.packages.find]
include = ["httpbin*"]
'''


def test_a_fixed_version_becomes_dynamic_and_the_rest_is_kept():
    new = initfix.dynamic_version(HTTPBIN, "httpbin._release")
    data = tomllib.loads(new)
    assert data["project"]["dynamic"] == ["version"] and "version" not in data["project"]
    assert data["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "httpbin._release.version"}
    assert data["tool"]["setuptools"]["packages"]["find"] == {"include": ["httpbin*"]}
    kept = [line for line in HTTPBIN.splitlines() if not line.startswith("version =")]
    assert all(line in new.splitlines() for line in kept)


def test_what_it_will_not_touch():
    poetry = HTTPBIN.replace("setuptools.build_meta", "poetry.core.masonry.api")
    assert initfix.dynamic_version(poetry, "httpbin._release") is None
    own = HTTPBIN + '\n[tool.setuptools.dynamic]\nreadme = {file = "README.md"}\n'
    assert initfix.dynamic_version(own, "httpbin._release") is None
    multi = HTTPBIN.replace('version = "0.10.4"', 'version = """0.10.4"""')
    assert initfix.dynamic_version(multi, "httpbin._release") is None


def test_the_edit_for_a_project(tmp_path):
    (tmp_path / "httpbin").mkdir()
    (tmp_path / "pyproject.toml").write_text(HTTPBIN)
    edit = initfix.version_edit(tmp_path, "httpbin/_release.py")
    assert sorted(edit.files) == ["httpbin/_release.py", "pyproject.toml"]
    assert initfix.apply(tmp_path, edit) == ["httpbin/_release.py", "pyproject.toml"]
    ns = {}
    exec((tmp_path / "httpbin/_release.py").read_text(), ns)
    assert ns["version"] == "0.0.0+unreleased"
    assert initfix.version_edit(tmp_path, "httpbin/_release.py") is None   # done: nothing
