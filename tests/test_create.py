"""essay.create without servers: names, templates, refusals, and what ``es init`` writes.

Every test runs with HOME in a temporary directory, so neither cookiecutter's
``~/.cookiecutterrc`` / replay files nor the developer's git identity leak in or out.
"""
import subprocess
from pathlib import Path

import pytest

from essay import create as mod
from essay.create import CreateError, available_templates, create, validate_name
from essay.init import init_project
from essay.errors import EssayError

COMMON = mod.templates_root() / "common"
COMMON_FILES = ["essay.toml", "conf/nginx.conf.j2", "conf/supervisord.conf.j2", "fabfile.py"]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    for var in ("NAME", "EMAIL"):
        for who in ("AUTHOR", "COMMITTER"):
            monkeypatch.delenv(f"GIT_{who}_{var}", raising=False)
    return home


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()


def tree(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))


# --- names ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["demo", "my-app", "My_App2", "a", "web-2-go"])
def test_valid_names_are_returned_unchanged(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name, why", [
    ("", "empty"),
    ("   ", "empty"),
    ("no good", "' '"),
    ("a/b", "'/'"),
    ("my.app", "'.'"),
    ("café", "'é'"),
    ("1abc", "start with a letter"),
    ("-app", "start with a letter"),
    ("_app", "start with a letter"),
    ("import", "keyword"),
    ("class", "keyword"),
    ("Class", "keyword"),          # its package name, ``class``, is the keyword
    ("json", "shadow"),            # a standard-library module
    ("flask", "shadow"),           # what the flask template imports
    ("tests", "shadow"),
])
def test_invalid_names_are_refused_with_the_reason_and_an_example(name, why):
    with pytest.raises(CreateError) as e:
        validate_name(name)
    message = str(e.value)
    assert why in message
    assert "e.g. 'demo'" in message and "\n" not in message


def test_create_error_is_an_essay_error():
    assert issubclass(CreateError, EssayError) and issubclass(CreateError, Exception)


# --- refusals write nothing ---------------------------------------------------------------

def test_available_templates():
    assert available_templates() == ["default", "django", "flask"]


def test_unknown_template_lists_the_available_ones_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(CreateError, match=r"unknown template 'rails'; available: "
                                          r"default, django, flask"):
        create("demo", template="rails", output_dir=out)
    assert not out.exists()


def test_invalid_name_writes_nothing(tmp_path):
    with pytest.raises(CreateError, match="start with a letter"):
        create("1abc", output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_existing_target_is_refused_and_left_alone(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "mine.txt").write_text("keep me")
    before = tree(tmp_path)
    with pytest.raises(CreateError, match="already exists"):
        create("demo", output_dir=tmp_path)
    assert tree(tmp_path) == before
    assert (tmp_path / "demo" / "mine.txt").read_text() == "keep me"


def test_existing_file_as_target_is_refused(tmp_path):
    (tmp_path / "demo").write_text("a file")
    with pytest.raises(CreateError, match="already exists"):
        create("demo", output_dir=tmp_path)
    assert (tmp_path / "demo").read_text() == "a file"


def test_bad_package_name_in_extra_context_is_refused(tmp_path):
    with pytest.raises(CreateError, match="not a valid Python package name"):
        create("demo", output_dir=tmp_path, extra_context={"package_name": "my-pkg"})
    assert tree(tmp_path) == ["home"]


def test_a_template_failing_midway_leaves_nothing(tmp_path, monkeypatch):
    import cookiecutter.main

    def half_done(template, output_dir, **kwargs):
        partial = Path(output_dir) / "demo"
        partial.mkdir()
        (partial / "half.txt").write_text("written before the failure")
        raise RuntimeError("disk full")

    monkeypatch.setattr(cookiecutter.main, "cookiecutter", half_done)
    out = tmp_path / "out"
    (out / "neighbour").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="disk full"):
        create("demo", output_dir=out)
    assert tree(out) == ["neighbour"]      # no project, no staging directory


# --- a created project (the templates themselves: tests/test_templates.py) ----------------

def test_create_commits_everything_with_a_fallback_identity(tmp_path):
    project = create("my-app", output_dir=tmp_path)
    assert project == tmp_path / "my-app"
    assert git(project, "log", "--format=%an <%ae>|%s") == \
        "essay <essay@localhost>|Create my-app from essay's default template"
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "branch", "--show-current") == "main"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_es_create_says_when_git_has_no_identity(tmp_path, isolated_home):
    """Not silently: the made-up author is named, with how to fix it."""
    import os
    import sys

    p = subprocess.run([sys.executable, "-m", "essay", "create", "demo", "--no-input"],
                       cwd=tmp_path, text=True, capture_output=True, timeout=120,
                       env=dict(os.environ, HOME=str(isolated_home)))
    assert p.returncode == 0, p.stderr
    assert "warning: git has no user.name or user.email: the first commit is by essay " \
           "<essay@localhost>" in p.stderr, p.stderr
    assert "git commit --amend --reset-author" in p.stderr
    (isolated_home / ".gitconfig").write_text("[user]\n\tname = Ann\n\temail = a@b.c\n")
    p = subprocess.run([sys.executable, "-m", "essay", "create", "demo2", "--no-input"],
                       cwd=tmp_path, text=True, capture_output=True, timeout=120,
                       env=dict(os.environ, HOME=str(isolated_home)))
    assert p.returncode == 0 and "git has no" not in p.stderr, p.stderr


def test_create_uses_the_configured_git_identity(tmp_path, isolated_home):
    (isolated_home / ".gitconfig").write_text("[user]\n\tname = Ann Lee\n\temail = ann@example.org\n")
    project = create("demo", output_dir=tmp_path)
    assert git(project, "log", "--format=%an <%ae>") == "Ann Lee <ann@example.org>"
    assert 'authors = [{name = "Ann Lee"}]' in (project / "pyproject.toml").read_text()


def test_create_pushes_to_a_remote(tmp_path):
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    project = create("demo", output_dir=tmp_path / "work", remote=str(remote))
    assert git(remote, "log", "--format=%s", "main") == "Create demo from essay's default template"
    assert git(project, "rev-parse", "--abbrev-ref", "main@{upstream}") == "origin/main"


def test_a_failed_push_is_reported_but_the_project_stays(tmp_path):
    missing = tmp_path / "no-such-remote.git"
    with pytest.raises(CreateError, match="not pushed to") as e:
        create("demo", output_dir=tmp_path, remote=str(missing))
    assert e.value.project == tmp_path / "demo"
    assert (tmp_path / "demo" / "essay.toml").is_file()
    assert git(tmp_path / "demo", "remote", "get-url", "origin") == str(missing)


# --- es init ------------------------------------------------------------------------------

def test_init_writes_the_common_files_and_ignores_essay_state(tmp_path):
    project = tmp_path / "shop-front"
    project.mkdir()
    result = init_project(project)
    assert (result.name, result.package) == ("shop-front", "shop_front")
    assert result.written == COMMON_FILES + [".gitignore"] and result.skipped == []
    assert (project / ".gitignore").read_text().splitlines()[-1] == ".essay/"
    for rel in COMMON_FILES[1:]:                       # copied byte for byte, not rendered
        assert (project / rel).read_bytes() == (COMMON / rel).read_bytes()
    toml = (project / "essay.toml").read_text()
    assert 'name = "shop-front"' in toml and 'package = "shop_front"' in toml
    assert "{{" not in toml


def test_init_output_is_a_valid_essay_config(tmp_path):
    from essay import config

    init_project(tmp_path, name="my-app")
    cfg = config.load(path=tmp_path / "essay.toml")
    assert (cfg.name, cfg.package) == ("my-app", "my_app")


def test_init_never_overwrites_and_reports_what_it_skipped(tmp_path):
    (tmp_path / "essay.toml").write_text("# mine\n")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "nginx.conf.j2").write_text("# my nginx\n")
    (tmp_path / ".gitignore").write_text("*.log\n.essay/\n")
    result = init_project(tmp_path, name="demo")
    assert result.skipped == ["essay.toml", "conf/nginx.conf.j2"]
    assert result.written == ["conf/supervisord.conf.j2", "fabfile.py"]
    assert (tmp_path / "essay.toml").read_text() == "# mine\n"
    assert (tmp_path / "conf" / "nginx.conf.j2").read_text() == "# my nginx\n"
    assert (tmp_path / ".gitignore").read_text() == "*.log\n.essay/\n"

    again = init_project(tmp_path, name="demo")
    assert again.written == [] and sorted(again.skipped) == sorted(COMMON_FILES)


@pytest.mark.parametrize("existing, expected", [
    (b"*.log", b"*.log\n# essay's local state: index credentials and packages\n.essay/\n"),
    (b"*.log\n", b"*.log\n# essay's local state: index credentials and packages\n.essay/\n"),
    (b"/.essay\n", b"/.essay\n"),                  # already ignored, spelled another way
    (b".essay/\n", b".essay/\n"),
])
def test_init_adds_essay_state_to_gitignore_once(tmp_path, existing, expected):
    (tmp_path / ".gitignore").write_bytes(existing)
    init_project(tmp_path, name="demo")
    assert (tmp_path / ".gitignore").read_bytes() == expected


def test_init_takes_the_name_from_pyproject_then_setup_cfg_then_the_directory(tmp_path):
    project = tmp_path / "checkout"
    project.mkdir()
    assert init_project(project).name == "checkout"
    (project / "essay.toml").unlink()
    (project / "setup.cfg").write_text("[metadata]\nname = cfg-name\n")
    assert init_project(project).name == "cfg-name"
    (project / "essay.toml").unlink()
    (project / "pyproject.toml").write_text('[project]\nname = "Toml-Name"\n')
    result = init_project(project)
    assert (result.name, result.package) == ("Toml-Name", "toml_name")


def test_init_explains_a_name_it_cannot_use(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "zope.thing"\n')
    with pytest.raises(CreateError, match=r"'zope.thing' is not a valid project name"):
        init_project(tmp_path)
    assert tree(tmp_path) == ["home", "pyproject.toml"]


def test_init_reports_a_broken_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project\n")
    with pytest.raises(CreateError, match="cannot read the project name"):
        init_project(tmp_path)


def test_init_asks_when_input_is_allowed(tmp_path, monkeypatch):
    answers = iter(["", "webshop"])                     # keep the name, change the package
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    (tmp_path / "shop").mkdir()
    result = init_project(tmp_path / "shop", no_input=False)
    assert (result.name, result.package) == ("shop", "webshop")
    assert 'package = "webshop"' in (tmp_path / "shop" / "essay.toml").read_text()


def test_init_refuses_a_missing_directory(tmp_path):
    with pytest.raises(CreateError, match="is not a directory"):
        init_project(tmp_path / "nowhere")
