"""essay/deploy/installed.py: the version of the project installed in a colour's venv, as
importlib.metadata would answer (the first on the venv Python's path), read from the
.dist-info/.egg-info pip and uv write, without importing importlib.metadata (no rig: real
venvs made here, and directories laid out by hand for the corner cases)."""
import os
import subprocess
import sys
import venv

import pytest

from essay.deploy.commands import INSTALLED


def installed(name, *path, python=sys.executable):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))}
    p = subprocess.run([str(python), "-S", "-c", INSTALLED, name], capture_output=True,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def dist(where, dirname, version):
    d = where / dirname
    d.mkdir(parents=True)
    meta = "METADATA" if dirname.endswith(".dist-info") else "PKG-INFO"
    (d / meta).write_text(f"Metadata-Version: 2.1\nName: x\nVersion: {version}\n\n"
                          "Version: not-this-one\n")


@pytest.mark.parametrize("name", ["My.App", "my-app", "MY_APP", "my__app"])
def test_names_compare_normalized(tmp_path, name):
    dist(tmp_path, "my_app-1.2.post3.dist-info", "1.2.post3")
    dist(tmp_path, "my_apps-9.dist-info", "9")
    dist(tmp_path, "other-2.dist-info", "2")
    assert installed(name, tmp_path) == "1.2.post3"


def test_nothing_installed_prints_nothing(tmp_path):
    assert installed("app", tmp_path) == ""
    dist(tmp_path, "other-2.dist-info", "2")
    assert installed("app", tmp_path) == ""


def test_the_first_on_the_path_wins_egg_info_too(tmp_path):
    dist(tmp_path / "first", "app-1.egg-info", "1")
    dist(tmp_path / "second", "app-2.dist-info", "2")
    assert installed("app", tmp_path / "first", tmp_path / "second") == "1"
    assert installed("app", tmp_path / "second", tmp_path / "first") == "2"


def test_a_real_venv_as_importlib_metadata_says_and_a_pth_that_shadows_it(tmp_path):
    """What pip itself installed (pip is in every venv) reads as importlib.metadata says;
    a .pth putting another copy first on the path wins, as it does for importlib."""
    venv.create(tmp_path / "v", with_pip=True)
    py = tmp_path / "v" / "bin" / "python"

    def metadata():
        return subprocess.run([py, "-c", "import importlib.metadata as m; "
                               "print(m.version('pip'))"], capture_output=True, text=True,
                              check=True).stdout.strip()

    def ours():
        return subprocess.run([py, "-c", INSTALLED, "pip"], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert ours() == metadata() != ""
    dist(tmp_path / "shadow", "pip-0.0.0.dist-info", "0.0.0")
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "zz_shadow.pth"), "w") as f:
        f.write(f"import sys; sys.path.insert(0, {str(tmp_path / 'shadow')!r})\n")
    assert ours() == metadata() == "0.0.0"
