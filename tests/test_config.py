"""essay.toml: loading, defaults, and errors that name the file, the key, what was found
and what was expected. Pure and fast, except the last test, which runs the real `es config`."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from essay import config
from essay.config import ConfigError

MINIMAL = """\
[project]
name = "demo"
[index]
url = "http://10.0.0.1:8090/simple/"
upload_url = "http://127.0.0.1:8090/"
[roles]
web = ["h1", "deploy@10.0.0.3:2222"]
lb = ["lb"]
[deploy]
prefix = "~/demo"
python = "python3"
processes = 2
health_path = "/health"
[colors]
a = 8800
b = 8810
[nginx]
site = "/etc/nginx/conf.d/demo.conf"
test = "sudo nginx -t"
reload = "sudo nginx -s reload"
listen = 80
"""


def write(tmp_path, text, name="essay.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_text(tmp_path, text):
    return config.load(path=write(tmp_path, text))


def test_the_minimal_file_loads_with_every_default(tmp_path):
    cfg = load_text(tmp_path, MINIMAL)
    assert cfg.path == tmp_path / "essay.toml" and cfg.root == tmp_path.resolve()
    assert (cfg.name, cfg.package) == ("demo", "demo")
    assert cfg.index_url == "http://10.0.0.1:8090/simple/"
    assert cfg.upload_url == "http://127.0.0.1:8090/"
    assert cfg.index_embedded is False
    assert cfg.packages_dir == tmp_path.resolve() / ".essay" / "packages"
    assert cfg.roles == {"web": ["h1", "deploy@10.0.0.3:2222"], "lb": ["lb"]}
    assert cfg.hosts("web") == ["h1", "deploy@10.0.0.3:2222"] and cfg.hosts("db") == []
    assert (cfg.prefix, cfg.python, cfg.processes, cfg.health_path) == \
        ("~/demo", "python3", 2, "/health")
    assert cfg.health_timeout == 30.0 and isinstance(cfg.health_timeout, float)
    assert (cfg.installer, cfg.parallel, cfg.profile) == ("pip", 16, "default")
    assert cfg.pre_deploy == [] and cfg.post_deploy == []
    assert cfg.colors == {"a": 8800, "b": 8810} and cfg.first_color() == "a"
    assert cfg.ports == {"a": [8800, 8801], "b": [8810, 8811]}
    assert cfg.color_dir("b") == "~/demo/b"
    assert (cfg.nginx_site, cfg.nginx_test, cfg.nginx_reload, cfg.nginx_listen) == \
        ("/etc/nginx/conf.d/demo.conf", "sudo nginx -t", "sudo nginx -s reload", 80)
    assert cfg.nginx_server_name == "_"
    assert cfg.nginx_state_dir == "/etc/nginx/conf.d/demo.essay"
    assert cfg.release_grace == 10.0
    assert cfg.version_file == "demo/_release.py"
    assert cfg.accept_new_host_keys is False and cfg.connect_timeout == 10.0
    assert (cfg.index_threads, cfg.index_connection_limit) == (32, 1000)


def test_name_alone_gets_the_embedded_index_and_local_roles(tmp_path):
    cfg = load_text(tmp_path, '[project]\nname = "My-App"\n')
    assert cfg.package == "my_app" and cfg.version_file == "my_app/_release.py"
    assert cfg.index_url == config.DEFAULT_INDEX and cfg.upload_url == "http://127.0.0.1:8090/"
    assert cfg.index_embedded is True
    assert cfg.roles == {"web": ["local"], "lb": ["local"]}
    assert cfg.colors == {"a": 8800, "b": 8810} and cfg.prefix == "~/My-App"


def test_upload_url_defaults_to_the_index_url_without_simple(tmp_path):
    cfg = load_text(tmp_path, '[project]\nname = "demo"\n[index]\nurl = "https://pkgs.example/'
                              'team/simple"\n')
    assert cfg.index_url == "https://pkgs.example/team/simple/"
    assert cfg.upload_url == "https://pkgs.example/team/"


def _replace(old, new):
    assert old in MINIMAL, old
    return MINIMAL.replace(old, new)


# (text, the key as named in the message, what was found (repr), a word of what was expected)
BAD = [
    # bad types
    (_replace("processes = 2", 'processes = "2"'), "[deploy] processes", "'2'", "whole number"),
    (_replace("processes = 2", "processes = true"), "[deploy] processes", "True", "whole number"),
    (_replace("processes = 2", "processes = 0"), "[deploy] processes", "0", "1 to 64"),
    (_replace("listen = 80", "listen = 80.5"), "[nginx] listen", "80.5", "port"),
    (_replace("listen = 80", "listen = 70000"), "[nginx] listen", "70000", "1 to 65535"),
    (_replace('prefix = "~/demo"', "prefix = 5"), "[deploy] prefix", "5", "directory path"),
    (_replace('lb = ["lb"]', 'lb = [1]'), "[roles] lb", "[1]", "list of strings"),
    (_replace('health_path = "/health"', 'health_path = "health"'), "[deploy] health_path",
     "'health'", 'starting with "/"'),
    (MINIMAL + '[ssh]\naccept_new_host_keys = "yes"\n', "[ssh] accept_new_host_keys", "'yes'",
     "true or false"),
    (MINIMAL + "[release]\ngrace = -1\n", "[release] grace", "-1.0", ">= 0"),
    (MINIMAL + '[ssh]\nclient = "putty"\n', "[ssh] client", "'putty'", '"openssh"'),
    (MINIMAL + "[ssh]\ncontrol_persist = 1.5\n", "[ssh] control_persist", "1.5", "whole number"),
    (MINIMAL + "[ssh]\ncontrol_persist = -1\n", "[ssh] control_persist", "-1.0", ">= 0"),
    (_replace('health_path = "/health"', 'health_path = "/health"\nhealth_timeout = 0'),
     "[deploy] health_timeout", "0.0", "> 0"),
    (_replace('health_path = "/health"', 'health_path = "/health"\ninstaller = "poetry"'),
     "[deploy] installer", "'poetry'", '"uv"'),
    ('project = 3\n' + _replace('[project]\nname = "demo"\n', ""), "[project]", "3",
     "a table"),
    ("nginx = 1\n" + MINIMAL.split("[nginx]")[0], "[nginx]", "1", "a table"),
    (_replace('upload_url = "http://127.0.0.1:8090/"', 'upload_url = "http://127.0.0.1:8090/"'
              "\nthreads = 0"), "[index] threads", "0", "1 to 256"),
    (_replace('upload_url = "http://127.0.0.1:8090/"', 'upload_url = "http://127.0.0.1:8090/"'
              '\nthreads = "32"'), "[index] threads", "'32'", "whole number"),
    (_replace('upload_url = "http://127.0.0.1:8090/"', 'upload_url = "http://127.0.0.1:8090/"'
              "\nconnection_limit = 20000"), "[index] connection_limit", "20000",
     "1 to 10000"),
    # unknown keys and tables
    (_replace("listen = 80", "listen = 80\nport = 81"), "[nginx] port", None, "known keys"),
    (MINIMAL + "[deploys]\nprefix = 'x'\n", "[deploys]", None, "known"),
    # colours
    (_replace("b = 8810", "b = 8801"), "[colors] b", "8801", "overlap"),
    (_replace("a = 8800\nb = 8810", "a = 8800\nb = 8800"), "[colors] b", "8800", "overlap"),
    (_replace("b = 8810", "b = 8810\nc = 8811"), "[colors] c", "8811", "overlap"),
    (_replace("b = 8810", "B = 8810"), "[colors] B", "'B'", "colour name"),
    (_replace("b = 8810", "b = 80"), "[colors] b", "80", "1024"),
    (_replace("b = 8810", "b = 65535"), "[colors] b", "65535", "1024 to 65534"),
    (_replace("b = 8810", 'b = "8810"'), "[colors] b", "'8810'", "base port"),
    (_replace("a = 8800\nb = 8810", "a = 8800"), "[colors]", "{'a': 8800}", "two colours"),
    # the project
    (_replace('name = "demo"', ""), "[project] name", None, "missing"),
    (_replace('name = "demo"', 'name = "1demo"'), "[project] name", "'1demo'", "project name"),
    (_replace('name = "demo"', 'name = "de mo"'), "[project] name", "'de mo'", "project name"),
    (_replace('name = "demo"', 'name = "class"'), "[project] name", "'class'", "keyword"),
    (_replace('name = "demo"', 'name = "demo"\npackage = "my-pkg"'), "[project] package",
     "'my-pkg'", "package name"),
    # URLs
    (_replace('url = "http://10.0.0.1:8090/simple/"', 'url = "ftp://10.0.0.1/simple/"'),
     "[index] url", "'ftp://10.0.0.1/simple/'", "http(s) URL"),
    (_replace('url = "http://10.0.0.1:8090/simple/"', 'url = "10.0.0.1:8090/simple/"'),
     "[index] url", "'10.0.0.1:8090/simple/'", "http(s) URL"),
    (_replace('url = "http://10.0.0.1:8090/simple/"', 'url = "http:///simple/"'),
     "[index] url", "'http:///simple/'", "http(s) URL"),
    (_replace('url = "http://10.0.0.1:8090/simple/"', 'url = "http://10.0.0.1:99999/simple/"'),
     "[index] url", "'http://10.0.0.1:99999/simple/'", "port"),
    (_replace('upload_url = "http://127.0.0.1:8090/"', 'upload_url = "127.0.0.1:8090"'),
     "[index] upload_url", "'127.0.0.1:8090'", "http(s) URL"),
    (_replace('upload_url = "http://127.0.0.1:8090/"', 'upload_url = "http:/x"'),
     "[index] upload_url", "'http:/x'", "http(s) URL"),
    # host strings
    (_replace('"h1", ', '"h1", "user@@h2", '), "[roles] web", "'user@@h2'", "host string"),
    (_replace('"h1", ', '"-oProxyCommand=x", '), "[roles] web", "'-oProxyCommand=x'", "host"),
    (_replace('"h1", ', '"h 1", '), "[roles] web", "'h 1'", "host string"),
    (_replace('"h1", ', '"h1:22:33", '), "[roles] web", "'h1:22:33'", "host string"),
    (_replace('"h1", ', '"h1:0", '), "[roles] web", "'h1:0'", "1 to 65535"),
    (_replace('"h1", ', '"h1:65536", '), "[roles] web", "'h1:65536'", "1 to 65535"),
    (_replace('"h1", ', '"h1\\n", '), "[roles] web", "'h1\\n'", "host string"),
    (_replace('"h1", ', '"", '), "[roles] web", "''", "host string"),
    (_replace('web = ["h1", "deploy@10.0.0.3:2222"]', 'web = 5'), "[roles] web", "5",
     "list of strings"),
    ("roles = 5\n" + _replace('[roles]\nweb = ["h1", "deploy@10.0.0.3:2222"]\nlb = ["lb"]\n',
                              ""), "[roles]", "5", "a table"),
    ("colors = 5\n" + _replace('[colors]\na = 8800\nb = 8810\n', ""), "[colors]", "5",
     "a table"),
    # the version file is written into the build tree: it must stay inside it
    (MINIMAL + '[build]\nversion_file = "/etc/demo/_release.py"\n', "[build] version_file",
     "'/etc/demo/_release.py'", "relative"),
    (MINIMAL + '[build]\nversion_file = "../x/_release.py"\n', "[build] version_file",
     "'../x/_release.py'", "relative"),
    (MINIMAL + '[build]\nversion_file = "demo/_release.txt"\n', "[build] version_file",
     "'demo/_release.txt'", ".py"),
]


@pytest.mark.parametrize("text, key, found, expected", BAD,
                         ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_errors_name_file_key_found_and_expected(tmp_path, text, key, found, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        config.load(path=path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: "), msg
    assert key in msg, msg
    if found is not None:
        assert f"is {found}," in msg, msg
    assert expected in msg, msg
    assert "\n" not in msg.rstrip() or "known" in msg


def test_not_toml_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, MINIMAL + "this is [not toml\n")
    with pytest.raises(ConfigError) as e:
        config.load(path=path)
    assert str(e.value).startswith(f"{path}: not valid TOML") and "line 22" in str(e.value)


def test_a_password_in_a_bad_url_is_not_in_the_error(tmp_path):
    text = _replace('url = "http://10.0.0.1:8090/simple/"', 'url = "ftp://u:s3cret@h/simple/"')
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, text)
    assert "s3cret" not in str(e.value) and "ftp://u:***@h/simple/" in str(e.value)


def test_find_walks_up_from_a_subdirectory(tmp_path):
    write(tmp_path, MINIMAL)
    sub = tmp_path / "demo" / "static" / "css"
    sub.mkdir(parents=True)
    assert config.find(sub) == (tmp_path / "essay.toml").resolve()
    cfg = config.load(sub)
    assert cfg.root == tmp_path.resolve() and cfg.name == "demo"
    # the nearest one wins
    write(tmp_path / "demo", '[project]\nname = "inner"\n')
    assert config.load(sub).name == "inner"


def test_no_file_anywhere_says_what_to_do(tmp_path):
    assert config.find(tmp_path) is None or config.find(tmp_path).parent != tmp_path
    if config.find(tmp_path) is not None:
        pytest.skip("an essay.toml above the temporary directory")
    with pytest.raises(ConfigError, match="no essay.toml in .*es init"):
        config.load(tmp_path)


@pytest.mark.parametrize("url, shown", [
    ("http://user:secret@host/simple/", "http://user:***@host/simple/"),
    ("https://user:secret@host:8443/simple/", "https://user:***@host:8443/simple/"),
    ("http://user:p%40ss@[::1]:8090/simple/", "http://user:***@[::1]:8090/simple/"),
    ("http://user@host/simple/", "http://user@host/simple/"),
    ("http://host/simple/", "http://host/simple/"),
])
def test_redact_url(url, shown):
    assert config.redact_url(url) == shown


def test_es_config_redacts_a_password_in_the_index_url(tmp_path):
    text = _replace('url = "http://10.0.0.1:8090/simple/"',
                    'url = "http://user:Pw-9fz1q@10.0.0.1:8090/simple/"')
    text = text.replace('upload_url = "http://127.0.0.1:8090/"\n', "")  # derived from url
    write(tmp_path, text)
    (tmp_path / "sub").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINE_")}
    env["HOME"] = str(tmp_path)
    outputs = []
    for args in (["config"], ["config", "--json"]):
        proc = subprocess.run([sys.executable, "-m", "essay", *args], cwd=tmp_path / "sub",
                              env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout + proc.stderr)
        assert "[index] url holds a password" in proc.stderr   # a warning: it is in git
    assert all("Pw-9fz1q" not in out for out in outputs), outputs
    data = json.loads(proc.stdout)
    assert data["index"]["url"] == "http://user:***@10.0.0.1:8090/simple/"
    assert data["index"]["upload_url"] == "http://user:***@10.0.0.1:8090/"
    assert data["project"]["file"] == str(tmp_path / "essay.toml")
    assert 'url = "http://user:***@10.0.0.1:8090/simple/"' in outputs[0]


def test_es_config_shows_a_config_error_without_a_traceback(tmp_path):
    write(tmp_path, _replace("b = 8810", "b = 8801"))
    proc = subprocess.run([sys.executable, "-m", "essay", "config"], cwd=tmp_path,
                          env=dict(os.environ, HOME=str(tmp_path)), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "[colors] b is 8801, expected ports that do not overlap colour a's" in proc.stderr


def test_deploy_colour_choice_refuses_users_colours_and_says_why(tmp_path):
    from essay.deploy.cli import choose_color
    from essay.errors import UsageError

    cfg = load_text(tmp_path, MINIMAL)
    assert choose_color(cfg, None, "", False) == "a"             # nothing live yet
    assert choose_color(cfg, None, "a", False) == "b"            # the idle one
    with pytest.raises(UsageError, match="colour a is live: .* or add --force"):
        choose_color(cfg, "a", "a", False)
    with pytest.raises(UsageError, match="colour b takes canary traffic"):
        choose_color(cfg, "b", "a", False, canary="b")
    assert choose_color(cfg, "b", "a", True, canary="b") == "b"  # --force
    # a canary running: both colours serve users, none is idle (es deploy, es promote)
    with pytest.raises(UsageError) as e:
        choose_color(cfg, None, "a", False, canary="b")
    assert str(e.value) == ("no colour is idle: a is live and b takes canary traffic, so a "
                            "deploy would change what users are served. End the canary "
                            "first: `es rollback` (a alone) or `es flip b` (all to b), then "
                            "deploy")
    with pytest.raises(UsageError, match="with --force, name the one to deploy into with --color"):
        choose_color(cfg, None, "a", True, canary="b")
