"""The index password from outside git (essay/config/credentials.py): the environment or
.essay/credentials.json, merged into the index URL inside essay; a password written in
essay.toml is still redacted, and warned about. Pure and fast (`es config` runs for real).
The rig test, a real deploy from an index that wants the password: test_hardening.py."""
import json
import os
import subprocess
import sys

import pytest

from essay import config
from essay.pypi import credentials as pypi
from essay.config import ConfigError
from essay.config.credentials import PASSWORD_VAR, USERNAME_VAR
from essay.doctor.checks import local_findings

PLAIN = """\
[project]
name = "demo"
[index]
url = "http://10.0.0.1:8090/simple/"
[roles]
web = ["h1"]
lb = ["lb"]
"""
PW = "p@ss:w/rd%20 x"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for k in (PASSWORD_VAR, USERNAME_VAR, "ESSAY_ENV"):
        monkeypatch.delenv(k, raising=False)


def load(tmp_path, text=PLAIN, env=None):
    (tmp_path / "essay.toml").write_text(text)
    return config.load(path=tmp_path / "essay.toml", env=env)


def creds_file(tmp_path, data, mode=0o600):
    path = tmp_path / ".essay" / "credentials.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data))
    path.chmod(mode)
    return path


def test_nothing_outside_git_leaves_the_url_as_written(tmp_path):
    cfg = load(tmp_path)
    assert cfg.index_url == "http://10.0.0.1:8090/simple/" and cfg.index_password == ""
    cfg = load(tmp_path, PLAIN.replace("http://", "http://u:pw@"))
    assert cfg.index_url == "http://u:pw@10.0.0.1:8090/simple/"
    assert cfg.index_password == "essay.toml"


def test_the_environment_gives_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_VAR, PW)
    cfg = load(tmp_path)   # no user anywhere: the embedded index's, "essay"
    assert cfg.index_url == "http://essay:p%40ss%3Aw%2Frd%2520%20x@10.0.0.1:8090/simple/"
    assert cfg.index_password == PASSWORD_VAR
    assert cfg.upload_url == "http://10.0.0.1:8090/"   # uploads keep their own credentials
    cfg = load(tmp_path, PLAIN.replace("http://", "http://reader@"))   # the URL's user
    assert cfg.index_url.startswith("http://reader:p%40ss")
    monkeypatch.setenv(USERNAME_VAR, "ci bot")
    cfg = load(tmp_path, PLAIN.replace("http://", "http://reader:old@"))   # env wins
    assert cfg.index_url.startswith("http://ci%20bot:p%40ss") and "old" not in cfg.index_url
    from urllib.parse import unquote, urlsplit
    assert unquote(urlsplit(cfg.index_url).password) == PW


def test_credentials_json_gives_the_password_and_must_be_private(tmp_path, monkeypatch):
    path = creds_file(tmp_path, {"username": "essay", "password": "upload-only"})
    assert load(tmp_path).index_url == "http://10.0.0.1:8090/simple/"   # upload creds: not sent
    creds_file(tmp_path, {"username": "essay", "password": "upload-only",
                          "index": {"username": "dl", "password": "fromfile"}})
    cfg = load(tmp_path)
    assert cfg.index_url == "http://dl:fromfile@10.0.0.1:8090/simple/"
    assert cfg.index_password == ".essay/credentials.json"
    monkeypatch.setenv(PASSWORD_VAR, "fromenv")        # the environment comes first
    assert load(tmp_path).index_url == "http://essay:fromenv@10.0.0.1:8090/simple/"
    monkeypatch.delenv(PASSWORD_VAR)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"credentials.json: holds the index password but "
                                          r"has mode 0644; expected 0600 \(chmod 600 "):
        load(tmp_path)
    creds_file(tmp_path, {"index": "fromfile"})
    with pytest.raises(ConfigError, match=r'"index" is not an object with a "password"') as e:
        load(tmp_path)
    assert "fromfile" not in str(e.value)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read it as JSON"):
        load(tmp_path)


def test_es_pypi_serve_keeps_the_index_credentials_in_the_file(tmp_path):
    creds_file(tmp_path, {"index": {"password": "fromfile"}})
    cfg = load(tmp_path)
    pypi.ensure_credentials(cfg)
    data = json.loads((tmp_path / ".essay" / "credentials.json").read_text())
    assert data["index"] == {"password": "fromfile"} and data["username"] == "essay"
    assert oct((tmp_path / ".essay" / "credentials.json").stat().st_mode & 0o777) == "0o600"


def es_config(tmp_path, *args, **env):
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("TWINE_", "ESSAY_"))}
    proc = subprocess.run([sys.executable, "-m", "essay", *args], cwd=tmp_path,
                          env={**environ, "HOME": str(tmp_path), **env},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_es_config_redacts_an_environments_index_password_and_warns(tmp_path):
    (tmp_path / "essay.toml").write_text(PLAIN + """
[env.staging.roles]
web = ["s1"]
[env.production.index]
url = "http://essay:Pr0d-Secret@10.0.0.9:8090/simple/"
""")
    for args in (["-e", "production", "config"], ["-e", "production", "config", "--json"]):
        p = es_config(tmp_path, *args)
        assert "Pr0d-Secret" not in p.stdout + p.stderr
        assert "http://essay:***@10.0.0.9:8090/simple/" in p.stdout
        assert "[index] url holds a password" in p.stderr and PASSWORD_VAR in p.stderr
    data = json.loads(p.stdout)
    assert data["index"]["password_from"] == "essay.toml"
    p = es_config(tmp_path, "-e", "staging", "config", "--json")   # no password: no warning
    assert "warning" not in p.stderr and json.loads(p.stdout)["index"]["password_from"] is None
    p = es_config(tmp_path, "-e", "staging", "config", "--json", **{PASSWORD_VAR: "Env-Secret"})
    assert "Env-Secret" not in p.stdout + p.stderr and "warning" not in p.stderr
    data = json.loads(p.stdout)
    assert data["index"]["url"] == "http://essay:***@10.0.0.1:8090/simple/"
    assert data["index"]["password_from"] == PASSWORD_VAR


def test_doctor_fails_a_password_in_essay_toml(tmp_path):
    cfg = load(tmp_path, PLAIN.replace("http://", "http://u:Secret9@"))
    found = [f for f in local_findings(cfg) if f.check == "index-password"]
    assert len(found) == 1 and not found[0].ok and PASSWORD_VAR in found[0].fix
    assert "Secret9" not in found[0].detail + found[0].fix
    assert not [f for f in local_findings(load(tmp_path)) if f.check == "index-password"]
