"""Environments in essay.toml: deep merge, selection, refusals. Pure and fast."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rig_util import Listener

from essay import config
from essay.config import ConfigError
from essay.config.envs import merge

BASE = """\
[project]
name = "demo"
[roles]
web = ["h1", "h2"]
lb = ["lb"]
[deploy]
processes = 2
prefix = "~/demo"
[nginx]
site = "/etc/nginx/conf.d/demo.conf"
"""
ENVS = BASE + """\
[env.staging.roles]
web = ["s1"]
lb = ["slb"]
[env.production.deploy]
processes = 8
[env.production.nginx]
listen = 8080
"""


def load(tmp_path, text, env=None, monkeypatch=None):
    path = tmp_path / "essay.toml"
    path.write_text(text)
    return config.load(path=path, env=env)


@pytest.fixture(autouse=True)
def no_env_var(monkeypatch):
    monkeypatch.delenv("ESSAY_ENV", raising=False)


def test_merge_is_deep_and_values_replace():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    assert merge(base, {"a": {"y": [3]}, "c": {"z": 1}}) == \
        {"a": {"x": 1, "y": [3]}, "b": 2, "c": {"z": 1}}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 2}   # untouched
    with pytest.raises(ConfigError, match=r"\[env.staging.a\] is a value, but \[a\]"):
        merge(base, {"a": 3}, "staging")


def test_a_project_without_environments_is_unchanged(tmp_path):
    cfg = load(tmp_path, BASE)
    assert (cfg.env, cfg.env_names) == (None, ())
    assert cfg.nginx_state_dir == "/etc/nginx/conf.d/demo.essay"
    config.require(cfg)   # no environments: nothing to choose


def test_an_environment_overrides_keys_and_keeps_the_rest(tmp_path):
    st = load(tmp_path, ENVS, "staging")
    assert st.env == "staging" and st.env_names == ("staging", "production")
    assert st.roles == {"web": ["s1"], "lb": ["slb"]} and st.processes == 2
    assert st.nginx_state_dir == "/etc/nginx/conf.d/demo.essay/staging"
    pr = load(tmp_path, ENVS, "production")
    assert pr.roles["web"] == ["h1", "h2"] and pr.processes == 8 and pr.nginx_listen == 8080
    assert pr.prefix == "~/demo" and pr.ports["a"] == list(range(8800, 8808))
    assert pr.nginx_state_dir == "/etc/nginx/conf.d/demo.essay/production"


def test_the_choice_env_var_then_default(tmp_path, monkeypatch):
    cfg = load(tmp_path, ENVS)
    assert cfg.env is None and cfg.env_names == ("staging", "production")
    with pytest.raises(ConfigError, match="defines environments \\(staging, production\\)"):
        config.require(cfg)
    monkeypatch.setenv("ESSAY_ENV", "production")
    assert load(tmp_path, ENVS).env == "production"
    assert load(tmp_path, ENVS, "staging").env == "staging"   # -e wins over ESSAY_ENV
    monkeypatch.delenv("ESSAY_ENV")
    assert load(tmp_path, 'default_env = "staging"\n' + ENVS).env == "staging"


@pytest.mark.parametrize("text, env, message", [
    (ENVS, "prod", "-e/--env is 'prod', expected one of the environments in .*: "
                   "staging, production"),
    (BASE, "staging", "defines no environments"),
    ('default_env = "qa"\n' + ENVS, None, "default_env is 'qa', expected one of"),
    (BASE + "[env.Staging.roles]\nweb = []\n", None, r"\[env.Staging\] is not a valid"),
    (BASE + "[env.staging]\ndefault_env = 'x'\n", None, "not allowed"),
    (BASE + "[env.staging.deploy]\nprocesses = 0\n", "staging", r"\[deploy\] processes is 0"),
    (BASE + "[env.staging.bogus]\nx = 1\n", "staging", r"unknown table \[bogus\]"),
    (BASE + "[env.staging]\nroles = 3\n", "staging", r"\[env.staging.roles\] is a value"),
])
def test_bad_environments_are_refused_with_one_line(tmp_path, text, env, message):
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, text, env)


def test_es_config_prints_the_environment_first_and_hosts_commands_refuse(tmp_path):
    lis = Listener()   # the index: a command that asked it before refusing would show here
    (tmp_path / "essay.toml").write_text(
        ENVS + f'[index]\nurl = "http://127.0.0.1:{lis.port}/simple/"\n')
    es = [sys.executable, "-m", "essay"]
    out = subprocess.run([*es, "-e", "staging", "config"], cwd=tmp_path, text=True,
                         capture_output=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('[environment]\nname = "staging"')
    assert 'web = ["s1"]' in out.stdout
    out = subprocess.run([*es, "config", "--env", "production", "--json"], cwd=tmp_path,
                         text=True, capture_output=True)
    assert '"processes": 8' in out.stdout
    for argv in (["status"], ["lock", "status"], ["history"], ["flip", "a"],
                 ["deploy", "1.0"], ["rollback", "--to", "1.0"], ["promote"]):
        out = subprocess.run([*es, *argv], cwd=tmp_path, text=True, capture_output=True)
        assert out.returncode != 0 and "Traceback" not in out.stderr
        assert "staging, production" in out.stderr, (argv, out.stderr)
        assert "choose one with `es -e NAME`" in out.stderr or \
            argv == ["promote"] and "needs --from ENV and --to ENV" in out.stderr, out.stderr
    assert lis.count == 0, f"{lis.count} connection(s) to the index before the refusal"
    lis.sock.close()
    out = subprocess.run([*es, "-e", "qa", "status"], cwd=tmp_path, text=True,
                         capture_output=True)
    assert out.returncode != 0 and "expected one of the environments" in out.stderr


def test_fab_tasks_take_env(tmp_path):
    """In a generated project with two environments: `fab config --env NAME`, `-e NAME`
    and `ESSAY_ENV=NAME fab config` show that environment's name and hosts."""
    from essay.fabtasks import namespace

    task = namespace.tasks["deploy"]
    assert "env" in task.help and "ESSAY_ENV" in task.help["env"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1",
           **{k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}}
    assert subprocess.run([sys.executable, "-m", "essay", "init", "--no-input"], cwd=tmp_path,
                          env=env, capture_output=True).returncode == 0
    with open(tmp_path / "essay.toml", "a") as f:
        f.write('\n[env.staging.roles]\nweb = ["s-web1"]\nlb = ["s-lb"]\n'
                '[env.production.roles]\nweb = ["p-web1", "p-web2"]\nlb = ["p-lb"]\n')
    fab = str(Path(sys.executable).parent / "fab")   # this essay's fab
    for args, extra, name, web in (
            (["--env", "production"], {}, "production", '["p-web1", "p-web2"]'),
            (["-e", "production"], {}, "production", '["p-web1", "p-web2"]'),
            ([], {"ESSAY_ENV": "staging"}, "staging", '["s-web1"]')):
        out = subprocess.run([fab, "config", *args], cwd=tmp_path, text=True,
                             capture_output=True, env={**env, **extra}, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f'[environment]\nname = "{name}"'), out.stdout
        assert f"web = {web}" in out.stdout, out.stdout
    out = subprocess.run([fab, "status"], cwd=tmp_path, text=True, capture_output=True,
                         env=env, timeout=60)
    assert out.returncode != 0 and "choose one with `es -e NAME`" in out.stderr, out.stderr


def test_the_last_deploy_record_is_per_environment(tmp_path):
    from essay.deploy import retry

    (tmp_path / "essay.toml").write_text(ENVS)
    st, pr = (config.load(path=tmp_path / "essay.toml", env=e) for e in ("staging", "production"))
    assert retry.path(st) != retry.path(pr) and retry.path(st).endswith("last-deploy-staging.json")
    assert retry.path(config.load(path=write_base(tmp_path))).endswith("last-deploy.json")


def write_base(tmp_path):
    (tmp_path / "base").mkdir(exist_ok=True)
    (tmp_path / "base" / "essay.toml").write_text(BASE)
    return tmp_path / "base" / "essay.toml"
