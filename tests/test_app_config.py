"""The application keys ([deploy] app, server, packages, health_host, release,
python_version; [workers]) and what the shipped supervisord template makes of them.
Pure and fast."""
import re

import pytest

from essay import config, render
from essay.config import ConfigError
from essay.config.app import runtime_packages

BASE = {"project": {"name": "demo"}}


def load(deploy=None, **tables):
    return config.from_dict({**BASE, "deploy": deploy or {}, **tables}, None)


def test_defaults():
    cfg = load()
    assert (cfg.app, cfg.server, cfg.packages, cfg.health_host, cfg.release,
            cfg.python_version, cfg.workers) == ("demo.wsgi:application", "gunicorn", (), "",
                                                 "", "", {})
    assert runtime_packages(cfg) == ["gunicorn"]
    assert cfg.worker_hosts() == cfg.hosts("web")


def test_values_are_read():
    cfg = load({"app": "httpbin:app", "server": "uvicorn", "packages": ["psycopg[binary]>=3",
                                                                        "gunicorn"],
                "health_host": "example.com", "release": "django-admin migrate --noinput",
                "python_version": "3.11.2"},
               workers={"mail": "python -m demo.mail", "beat": "celery beat"},
               roles={"web": ["w1"], "lb": ["lb"], "worker": ["w2"]})
    assert cfg.app == "httpbin:app" and cfg.server == "uvicorn"
    assert runtime_packages(cfg) == ["gunicorn", "uvicorn-worker", "psycopg[binary]>=3"]
    assert cfg.workers == {"mail": "python -m demo.mail", "beat": "celery beat"}
    assert cfg.worker_hosts() == ["w2"]
    shown = config.redacted(cfg)
    assert shown["deploy"]["release"] == "django-admin migrate --noinput"
    assert shown["workers"]["mail"] == "python -m demo.mail"


@pytest.mark.parametrize("deploy,workers,key,found,expected", [
    ({"app": "httpbin"}, {}, "[deploy] app", "'httpbin'", "module:callable"),
    ({"app": "a b:c"}, {}, "[deploy] app", "'a b:c'", "module:callable"),
    ({"server": "waitress"}, {}, "[deploy] server", "'waitress'", "uvicorn"),
    ({"packages": ["gunicorn; rm -rf /"]}, {}, "[deploy] packages", "rm -rf", "requirements"),
    ({"packages": "gunicorn"}, {}, None, None, None),   # one string is a list of one
    ({"health_host": "a b"}, {}, "[deploy] health_host", "'a b'", "host name"),
    ({"release": "a\nb"}, {}, "[deploy] release", "'a\\nb'", "one line"),
    ({"python_version": "3"}, {}, "[deploy] python_version", "'3'", '"3.11"'),
    ({"python_version": 3.11}, {}, "[deploy] python_version", "3.11", '"3.11"'),
    ({}, {"1x": "x"}, "[workers] 1x", "'1x'", "worker name"),
    ({}, {"q": ""}, "[workers] q", "''", "non-empty"),
    ({}, {"q": ["x"]}, "[workers] q", "['x']", "shell command"),
])
def test_bad_values_name_the_key(deploy, workers, key, found, expected):
    if key is None:
        assert load(deploy).packages == ("gunicorn",)
        return
    with pytest.raises(ConfigError) as e:
        load(deploy, workers=workers)
    msg = str(e.value)
    assert key in msg and found in msg and expected in msg and "\n" not in msg


def programs(conf):
    return re.findall(r"^\[program:([^\]]+)\]", conf, re.M)


def test_the_template_serves_the_app_with_the_server():
    cfg = load({"app": "httpbin:app"}, workers={"mail": "python -m m --pct 5%"})
    conf = render.supervisord_conf(cfg, "h", "a", "1.0", "default")
    assert programs(conf) == ["web-0", "web-1", "worker-mail"]
    assert re.search(r"--worker-class gthread --threads 8 --keep-alive \d+ --graceful-timeout "
                     r"\d+ httpbin:app\n", conf), conf
    assert "bin/essay-exec /bin/sh -c 'python -m m --pct 5%%'\n" in conf   # supervisord's %
    worker = conf.split("[program:worker-mail]")[1]
    assert "autostart = false" in worker and 'ESSAY_VERSION="1.0"' in worker
    asgi = render.supervisord_conf(load({"server": "uvicorn", "app": "demo.asgi:application"}),
                                   "h", "a", "1.0", "default")
    assert re.search(r"--worker-class uvicorn_worker.UvicornWorker --keep-alive \d+ "
                     r"--graceful-timeout \d+ demo.asgi:application", asgi)


def test_a_worker_only_host_runs_no_web_process_and_a_web_only_host_no_worker():
    cfg = load(workers={"mail": "m"})
    assert programs(render.supervisord_conf(cfg, "h", "a", "1", "p", web=False)) == \
        ["worker-mail"]
    assert programs(render.supervisord_conf(cfg, "h", "a", "1", "p", workers=False)) == \
        ["web-0", "web-1"]


def test_a_template_that_ignores_workers_is_refused_naming_it(tmp_path):
    """[workers] set, a project's own template from before [workers]: no worker program
    would be deployed, and a flip would have none to start -- refused, naming the file."""
    from essay.errors import EssayError

    data = {**BASE, "workers": {"beat": "python -m demo.beat"},
            "roles": {"web": ["w1"], "lb": ["lb"], "worker": ["w2"]}}
    cfg = config.from_dict(data, None, root=tmp_path)
    conf = render.supervisord_conf(cfg, "w2", "a", "1", "p", web=False)
    render.check_workers(cfg, "w2", conf)        # the built-in template: fine
    (tmp_path / "conf").mkdir()
    own = tmp_path / "conf" / "supervisord.conf.j2"
    own.write_text(render.supervisord_conf(cfg, "w1", "a", "1", "p", workers=False)
                   .replace("[program:", "[program:{{ name }}"))   # a template, no workers
    old = render.supervisord_conf(cfg, "w2", "a", "1", "p", web=False)
    with pytest.raises(EssayError) as e:
        render.check_workers(cfg, "w2", old)
    msg = str(e.value)
    assert f"[workers] sets beat, but {own} renders no [program:worker-beat] for w2" in msg
    assert "copy the workers block" in msg and "\n" not in msg
    render.check_workers(cfg, "w1", old)         # w1 is not a worker host: nothing to run
