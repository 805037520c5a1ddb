"""Secrets, pure parts: names, parsing, the scripts (redaction, quoting), and the exec
wrapper run for real (sh) against files the builders write. Rig tests: test_envs_rig.py."""
import io
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from essay import config
from essay.errors import UsageError
from essay.secrets import host
from essay.secrets.cli import parse_pairs
from essay.secrets.commands import list_script, stage_script

SECRET = "s3cr3t 'quoted' $HOME `x` \\ \n trailing\n"


def cfg(tmp_path):
    (tmp_path / "essay.toml").write_text(
        '[project]\nname = "demo"\n[roles]\nweb = ["local"]\nlb = []\n'
        f'[deploy]\nprefix = "{tmp_path}/p"\n')
    return config.load(path=tmp_path / "essay.toml")


@pytest.mark.parametrize("name", ["SECRET_KEY", "_X", "A1"])
def test_good_names(name):
    assert host.check_name(name) == name


@pytest.mark.parametrize("name, message", [
    ("secret", "not valid"), ("1A", "not valid"), ("A-B", "not valid"), ("", "not valid"),
    ("ESSAY_COLOR", "reserved"), ("ESSAY_", "reserved")])
def test_bad_names_are_refused(name, message):
    with pytest.raises(UsageError, match=message):
        host.check_name(name)


def test_pairs_and_stdin():
    assert parse_pairs(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    assert parse_pairs(["A"], io.StringIO("v\n")) == {"A": "v"}
    assert parse_pairs(["A"], io.StringIO("two\nlines\n\n")) == {"A": "two\nlines\n"}
    with pytest.raises(UsageError, match="one KEY alone"):
        parse_pairs(["A", "B=1"], io.StringIO(""))
    with pytest.raises(UsageError, match="given twice"):
        parse_pairs(["A=1", "A=2"])
    with pytest.raises(UsageError) as e:
        parse_pairs(["lower=topsecret"])
    assert "topsecret" not in str(e.value)


def test_scripts_carry_no_value_in_clear_and_redact_for_dry_run(tmp_path):
    c = cfg(tmp_path)
    text = stage_script(c, "t0k", {"SECRET_KEY": SECRET}).render()
    assert SECRET.strip() not in text and "s3cr3t" not in text
    assert host.encode(SECRET) in text   # base64, inside the script on stdin only
    dry = stage_script(c, "t0k", {"SECRET_KEY": SECRET}, redact=True).render()
    assert host.encode(SECRET) not in dry and "SECRET_KEY=<redacted>" in dry


def run(script, tmp_path):
    return subprocess.run(["bash", "-s"], input=script.render(), text=True,
                          capture_output=True, cwd=tmp_path)


def test_stage_commit_and_the_wrapper_for_real(tmp_path):
    """The builders' scripts in a local bash, then the wrapper (sh) reads what they wrote."""
    from essay.secrets.commands import commit_script

    c = cfg(tmp_path)
    for values, unset in (({"SECRET_KEY": SECRET, "DATABASE_URL": "postgres://u:p@h/d"}, ()),
                          ({"OTHER": "1"}, ("DATABASE_URL",))):
        assert run(stage_script(c, "t", values, unset), tmp_path).returncode == 0
        assert run(commit_script(c, "t"), tmp_path).returncode == 0
    f = tmp_path / "p" / "secrets.env"
    assert oct(f.stat().st_mode & 0o777) == "0o600"
    assert [line.split("=")[0] for line in f.read_text().splitlines()] == ["SECRET_KEY", "OTHER"]
    assert not list((tmp_path / "p").glob("*.essay-stage-*"))
    bindir = tmp_path / "p" / "a" / "bin"
    bindir.mkdir(parents=True)
    (tmp_path / "p" / "a" / "etc").mkdir()
    (bindir / "essay-exec").write_text(host.wrapper_text())
    (bindir / "essay-exec").chmod(0o755)
    (tmp_path / "p" / "a" / "etc" / "essay.env").write_text(
        host.env_lines(host.colour_env(c, "a", "1.0", "default")))
    out = subprocess.run([str(bindir / "essay-exec"), "python3", "-c",
                          "import os, json; print(json.dumps(dict(os.environ)))"],
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    import json
    env = json.loads(out.stdout)
    assert env["SECRET_KEY"] == SECRET and env["OTHER"] == "1" and "DATABASE_URL" not in env
    assert (env["ESSAY_COLOR"], env["ESSAY_VERSION"], env["ESSAY_ENV"]) == ("a", "1.0", "")
    listed = run(list_script(c, "nonce"), tmp_path)
    assert "data mode 600" in listed.stdout and "SECRET_KEY " in listed.stdout
    assert host.encode(SECRET) not in listed.stdout


def test_commit_keeps_the_previous_file_until_finish_and_restore_puts_it_back(tmp_path):
    from essay.secrets.commands import (abort_script, commit_script, finish_script,
                                        restore_script)

    c = cfg(tmp_path)
    f, d = tmp_path / "p" / "secrets.env", tmp_path / "p"
    # no file before: restore after a commit leaves none
    assert run(stage_script(c, "t1", {"A": "1"}), tmp_path).returncode == 0
    assert run(commit_script(c, "t1"), tmp_path).returncode == 0
    assert run(restore_script(c, "t1"), tmp_path).returncode == 0
    assert not f.exists() and sorted(p.name for p in d.iterdir()) == []
    # a file before: commit keeps it as a backup; restore puts it back, byte for byte
    for token in ("t2", "t3"):
        assert run(stage_script(c, token, {"A": token}), tmp_path).returncode == 0
        assert run(commit_script(c, token), tmp_path).returncode == 0
    before = f.read_bytes()
    assert run(stage_script(c, "t4", {"A": "new"}, ("B",)), tmp_path).returncode == 0
    assert run(commit_script(c, "t4"), tmp_path).returncode == 0
    assert f.read_bytes() != before and (d / "secrets.env.essay-prev-t4").read_bytes() == before
    assert run(restore_script(c, "t4"), tmp_path).returncode == 0
    assert f.read_bytes() == before and oct(f.stat().st_mode & 0o777) == "0o600"
    # finish drops the backups; abort the staged file and a backup
    assert run(finish_script(c, "t2"), tmp_path).returncode == 0
    assert run(finish_script(c, "t3"), tmp_path).returncode == 0
    assert [p.name for p in d.iterdir()] == ["secrets.env"]
    # a directory where the file should be: the commit fails, nothing moves into it
    f.unlink()
    f.mkdir()
    assert run(stage_script(c, "t5", {"A": "x"}), tmp_path).returncode == 0
    assert run(commit_script(c, "t5"), tmp_path).returncode != 0
    assert list(f.iterdir()) == []
    assert run(abort_script(c, "t5"), tmp_path).returncode == 0
    assert sorted(p.name for p in d.iterdir()) == ["secrets.env"]


def test_the_wrapper_is_shellcheck_clean():
    path = Path(host.__file__).with_name("essay-exec.sh")
    proc = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_a_value_typed_at_a_terminal_is_not_echoed_and_is_taken(tmp_path):
    """`es secrets set KEY` on a real pseudo-terminal: the prompt comes, the typed value
    is not echoed back, and es takes it (--dry-run: the stage script is shown, value
    redacted, and no connection is opened -- the hosts are a port this test counts)."""
    from test_validation import Listener, toml
    from tty_util import typing

    lis = Listener()
    (tmp_path / "essay.toml").write_text(toml(lis.port))
    value = "typed-" + secrets.token_hex(8)
    env = dict(os.environ, NO_COLOR="1", HOME=str(tmp_path))
    code, text = typing([sys.executable, "-m", "essay", "secrets", "set", "MY_KEY",
                         "--dry-run"], tmp_path, env, b"(not echoed): ", value, timeout=60)
    assert "MY_KEY (not echoed): " in text and code == 0, text
    assert value not in text and value[:10] not in text   # not echoed, not printed
    assert "MY_KEY=<redacted>" in text and "dry run: nothing changed" in text, text
    assert lis.count == 0
    lis.sock.close()
