"""essay.conf_check: unsafe settings in a project's own conf/*.j2, found as text (unit)."""
from pathlib import Path

from essay.conf_check import check_conf, check_nginx, check_supervisord, upstream_keepalive

BUILTIN = Path(__file__).resolve().parent.parent / "templates" / "common" / "conf"

OLD_NGINX = """\
{% for color, servers in upstreams.items() %}
upstream {{ var }}_{{ color }} {
{%- for server in servers %}
    server {{ server }} max_fails=1 fail_timeout=5s;
{%- endfor %}
    keepalive 16;
}
{% endfor %}
server {
    listen {{ listen }};
    keepalive_timeout 65s;
    location / {
        proxy_set_header Host $host;
    }
}
"""
OLD_SUPERVISORD = """\
[program:web-0]
command = {{ venv }}/bin/gunicorn --bind 0.0.0.0:{{ port }} --threads 8 {{ package }}.wsgi:application
"""


def write(d, nginx=None, sup=None):
    if nginx is not None:
        (d / "nginx.conf.j2").write_text(nginx)
    if sup is not None:
        (d / "supervisord.conf.j2").write_text(sup)
    return d


def test_the_builtin_templates_are_safe():
    assert check_conf(BUILTIN) == []


def test_no_conf_dir_means_builtin_templates(tmp_path):
    assert check_conf(tmp_path / "conf") == []


def test_old_templates_get_one_line_per_problem_naming_the_fix(tmp_path):
    lines = check_conf(write(tmp_path, OLD_NGINX, OLD_SUPERVISORD))
    assert len(lines) == 6, lines
    assert all("\n" not in line for line in lines)
    text = "\n".join(lines)
    assert "line 4: upstream server with max_fails=1" in text and "max_fails=0" in text
    assert "line 2: upstream keeps idle connections" in text
    assert "keepalive_timeout {{ upstream_keepalive_timeout }}s;" in text
    assert "line 13: `proxy_set_header Host $host;`" in text and "$http_host" in text
    assert "client_max_body_size {{ client_max_body_size }};" in text
    assert "conf/supervisord.conf.j2 line 2: gunicorn with no --keep-alive" in text
    assert "--keep-alive {{ keep_alive }}" in text
    assert "line 2: the command does not start with `{{ essay_exec }}`" in text


def test_the_server_blocks_keepalive_timeout_is_not_the_upstreams():
    # keepalive_timeout 65s in server {} is the client side: the upstream one defaults to 60
    assert upstream_keepalive(OLD_NGINX) == 60


def test_max_fails_missing_is_nginx_default_one():
    text = "upstream u {\n    server 10.0.0.1:8800;\n    keepalive 4;\n    keepalive_timeout 30s;\n}\n"
    lines = check_nginx(text)
    assert any("no max_fails (nginx's default is 1)" in line for line in lines), lines
    assert upstream_keepalive(text) == 30


def test_fixed_nginx_has_no_upstream_warnings():
    text = ("upstream u {\n    server 10.0.0.1:8800 max_fails=0;\n    keepalive 4;\n"
            "    keepalive_timeout 1m;\n}\nserver {\n    client_max_body_size 5m;\n"
            "    proxy_set_header Host $http_host;\n}\n")
    assert check_nginx(text) == []
    assert upstream_keepalive(text) == 60


def test_gunicorn_keep_alive_must_outlast_nginx():
    cmd = "command = gunicorn --keep-alive {} app\n"
    assert check_supervisord(cmd.format(75), 60) == []
    assert "--keep-alive 60 closes" in check_supervisord(cmd.format(60), 60)[0]
    assert check_supervisord(cmd.format(5), 4) == []
    assert check_supervisord(cmd.format("{{ keep_alive }}"), 60) == []
    assert check_supervisord("command = uwsgi --http :8800\n", 60) == []   # not gunicorn



def _cfg(deploy=None, workers=None):
    from essay import config

    return config.from_dict({"project": {"name": "demo"}, "deploy": deploy or {},
                             **({"workers": workers} if workers else {})}, None)


NEW_KEYS = {"deploy": {"app": "demo.web:wsgi", "server": "uvicorn"},
            "workers": {"beat": "python -m demo.beat"}}


def test_a_template_made_before_app_and_workers_is_named_with_what_to_write(tmp_path):
    """[deploy] app, server and [workers] set, and a template that reads none of them: one
    line each, saying what to write; the built-in template reads them all."""
    from essay.conf_check import check_app_keys

    lines = check_app_keys(OLD_SUPERVISORD, _cfg(**NEW_KEYS))
    assert len(lines) == 3, lines
    app, server, workers = lines
    assert "does not use {{ app }}: it serves demo.wsgi:application, not essay.toml [deploy] " \
           "app = 'demo.web:wsgi'" in app and "write `{{ app }}` in place of" in app
    assert "[deploy] server = 'uvicorn'" in server and "`{{ server_args }}`" in server
    assert "[workers] (beat) would deploy no worker program" in workers
    assert "{% for worker, command in workers.items() %}" in workers
    assert check_conf(write(tmp_path, sup=OLD_SUPERVISORD), _cfg(**NEW_KEYS))[-3:] == lines
    assert check_conf(BUILTIN, _cfg(**NEW_KEYS)) == []
    # nothing set, or a template that hard-codes the same entry point: nothing to say
    assert check_app_keys(OLD_SUPERVISORD, _cfg()) == []
    assert check_app_keys(OLD_SUPERVISORD.replace("{{ package }}.wsgi:application",
                                                  "demo.web:wsgi"),
                          _cfg({"app": "demo.web:wsgi"})) == []


def test_uses_reads_jinja_not_text():
    from essay.conf_check import template_entry, uses

    assert uses("{% for w, c in workers.items() %}", "workers")
    assert uses("x {{ app }} y", "app") and not uses("; app and workers\n", "app")
    assert not uses("{{ wsgi_app }} {{ cfg.app }}", "app")
    assert template_entry(OLD_SUPERVISORD, "demo") == "demo.wsgi:application"
    assert template_entry("command = x/gunicorn --bind :1 {{ app }}\n", "demo") is None
