"""The index's server settings and its nginx site (``es pypi nginx-conf``): pure functions,
and the rendered site checked by the real nginx (``nginx -t``, no rig)."""
import subprocess
import sys
from pathlib import Path

import pytest

from essay import config
from essay.errors import UsageError
from essay.index_nginx import site, site_values
from essay.pypi.serve import serve_argv, waitress_options
from rig_nginx import MAIN_CONF, NGINX


def cfg_for(tmp_path, index="", url="http://10.0.0.5:8090/simple/"):
    (tmp_path / "essay.toml").write_text(f'[project]\nname = "demo"\n[index]\nurl = "{url}"\n'
                                         + index)
    return config.load(path=tmp_path / "essay.toml")


def test_waitress_gets_the_index_keys(tmp_path):
    cfg = cfg_for(tmp_path, "threads = 24\nconnection_limit = 300\n")
    assert waitress_options(cfg) == {"threads": 24, "connection_limit": 300,
                                     "asyncore_use_poll": True, "ident": "essay-pypi"}
    argv = serve_argv(cfg)
    assert argv[:5] == ["run", "--host", "10.0.0.5", "--port", "8090"]
    assert "--server" not in argv and argv[-1] == str(cfg.packages_dir)


def test_the_site_defaults_come_from_the_index_url(tmp_path):
    cfg = cfg_for(tmp_path)
    v = site_values(cfg)
    assert (v["listen"], v["backend"]) == ("8090", "127.0.0.1:8091")
    assert v["root"] == str(cfg.packages_dir.resolve()) and v["server_name"] == "_"
    text = site(cfg, listen="10.0.0.5:80", backend="[::1]:9000", server_name="pkgs.example")
    assert "listen 10.0.0.5:80;" in text and "server [::1]:9000;" in text
    assert f"alias {cfg.packages_dir.resolve()}/;" in text
    assert "es pypi serve --host [::1] --port 9000" in text


@pytest.mark.parametrize("options, message", [
    ({"listen": "http://x"}, "--listen is 'http://x', expected [HOST:]PORT"),
    ({"listen": "70000"}, "--listen is '70000'"),
    ({"backend": "8091"}, "--backend is '8091', expected HOST:PORT"),
    ({"backend": "a b:1"}, "--backend is 'a b:1'"),
    ({"backend": "0.0.0.0:8090"}, "--backend 0.0.0.0:8090 is where nginx listens"),
    ({"root": "/srv/my packages"}, "--root is '/srv/my packages'"),
    ({"root": "/srv/p;x"}, "--root is '/srv/p;x'"),
    ({"server_name": "a;b"}, "--server-name is 'a;b'"),
])
def test_bad_site_options_are_refused_naming_the_flag(tmp_path, options, message):
    with pytest.raises(UsageError) as e:
        site_values(cfg_for(tmp_path), **options)
    assert str(e.value).startswith(message), str(e.value)


def test_the_cli_prints_a_site_nginx_accepts(tmp_path):
    """`es pypi nginx-conf` on stdout, loaded by the real nginx in a test prefix."""
    cfg_for(tmp_path, url="http://127.0.0.1:8090/simple/")
    p = subprocess.run([sys.executable, "-m", "essay", "pypi", "nginx-conf", "--listen",
                        "127.0.0.1:18090"], cwd=tmp_path, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1",
                            "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
                       timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    d = tmp_path / "nginx"
    (d / "conf.d").mkdir(parents=True)
    (d / "tmp").mkdir()
    (d / "conf.d" / "index.conf").write_text(p.stdout)
    (d / "nginx.conf").write_text(MAIN_CONF.format(d=d))
    t = subprocess.run([NGINX, "-c", f"{d}/nginx.conf", "-p", f"{d}/", "-e",
                        f"{d}/error.log", "-t"], capture_output=True, text=True)
    assert t.returncode == 0, t.stderr
