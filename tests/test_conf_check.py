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

