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


def es_init_in_a_terminal(cwd, answers, timeout=60):
    """``es init`` on a real pseudo-terminal (its stdin, stdout and stderr), answering each
    prompt of ``answers`` [(text the prompt contains, what to type)] once it is shown.
    Returns (exit status, everything the terminal showed)."""
    import os
    import select
    import subprocess
    import sys
    import time

    main, sub = os.openpty()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "NO_COLOR": "1",
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "essay", "init"], cwd=cwd, env=env,
                            stdin=sub, stdout=sub, stderr=sub, start_new_session=True)
    os.close(sub)
    shown, pending, seen = b"", list(answers), 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                chunk = os.read(main, 4096)
            except OSError:    # EIO: every process holding the terminal has exited
                break
            if not chunk:
                break
            shown += chunk
            if pending and pending[0][0].encode() in shown[seen:]:
                seen = shown.index(pending[0][0].encode(), seen) + 1
                os.write(main, pending.pop(0)[1].encode())
        code = proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    assert not pending, f"never asked {pending[0][0]!r}:\n{shown.decode(errors='replace')}"
    return code, shown.decode(errors="replace").replace("\r\n", "\n")


def test_the_prompt_on_a_terminal_yes_makes_the_edit_and_no_leaves_the_files(tmp_path):
    for answer in ("y", "n"):
        root = tmp_path / answer
        (root / "httpbin").mkdir(parents=True)
        (root / "httpbin" / "__init__.py").write_text("app = object()\n")
        (root / "pyproject.toml").write_text(HTTPBIN)
        code, shown = es_init_in_a_terminal(root, [("project name", "\n"),
                                                   ("package name", "\n"),
                                                   ("Do it? [y/N]: ", answer + "\n")])
        assert code == 0, shown
        assert "es init can add httpbin/_release.py, pyproject.toml" in shown, shown
        if answer == "y":
            assert "changed pyproject.toml" in shown and "es init --fix" not in shown, shown
            assert tomllib.loads((root / "pyproject.toml").read_text())["project"][
                "dynamic"] == ["version"]
            assert (root / "httpbin" / "_release.py").is_file()
        else:
            assert "`es init --fix` can add" in shown and "changed" not in shown, shown
            assert (root / "pyproject.toml").read_text() == HTTPBIN
            assert not (root / "httpbin" / "_release.py").exists()
