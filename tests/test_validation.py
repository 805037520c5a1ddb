"""Bad input is refused before anything remote: one table of cases (issue 10, section 3).

Each case runs the real ``es`` in a project whose hosts and index all point at one TCP
listener this test owns; the listener counts connections, so "nothing remote" is measured,
not assumed. Every case must exit non-zero with one ``es:`` line naming the key or flag,
what was found and what was expected, and no traceback.
"""
import json
import os
import subprocess
import sys

import pytest
from rig_util import Listener


def clean_env(home, **extra):
    """A bare environment for es/fab, keeping PYTHONPATH: with it the subprocesses run this
    checkout's essay (not whichever is installed)."""
    keep = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), **keep, **extra}


@pytest.fixture(scope="module")
def listener():
    lis = Listener()
    yield lis
    lis.sock.close()


def toml(port, deploy="", nginx="", index=None, ssh="connect_timeout = 2"):
    host = f"127.0.0.1:{port}"
    url = index or f"http://127.0.0.1:{port}/simple/"
    return f"""\
[project]
name = "demo"
[index]
url = {json.dumps(url)}
[roles]
web = ["{host}"]
lb = ["{host}"]
[deploy]
{deploy}
[nginx]
{nginx or 'site = "~/nginx/demo.conf"'}
[ssh]
{ssh}
"""


# (id, essay.toml changes, es arguments, what the one line must contain)
CASES = [
    ("health_timeout nan", {"deploy": "health_timeout = nan"}, ["status"],
     ["[deploy] health_timeout is nan", "finite"]),
    ("health_timeout inf", {"deploy": "health_timeout = inf"}, ["status"],
     ["[deploy] health_timeout is inf", "finite"]),
    ("connect_timeout nan", {"ssh": "connect_timeout = nan"}, ["status"],
     ["[ssh] connect_timeout is nan", "finite"]),
    ("connect_timeout inf", {"ssh": "connect_timeout = inf"}, ["status"],
     ["[ssh] connect_timeout is inf", "finite"]),
    ("url bad IPv6", {"index": "http://[::1/simple/"}, ["status"],
     ["[index] url is 'http://[::1/simple/'", "expected an http(s) URL"]),
    ("prefix empty", {"deploy": 'prefix = ""'}, ["status"], ["[deploy] prefix is ''", "absolute"]),
    ("prefix ~user", {"deploy": 'prefix = "~bob/demo"'}, ["status"],
     ["[deploy] prefix is '~bob/demo'", 'starting with "~/"']),
    ("prefix relative", {"deploy": 'prefix = "demo"'}, ["status"], ["[deploy] prefix is 'demo'"]),
    ("prefix whitespace", {"deploy": 'prefix = "~/my demo"'}, ["status"],
     ["[deploy] prefix is '~/my demo'", "without spaces"]),
    ("prefix root", {"deploy": 'prefix = "/"'}, ["status"], ["[deploy] prefix is '/'"]),
    ("prefix shell", {"deploy": 'prefix = "~/a;b$(x)"'}, ["status"],
     ["[deploy] prefix is '~/a;b$(x)'", "letters, digits and ._~/@+- only"]),
    ("prefix quote", {"deploy": "prefix = \"/srv/it's\""}, ["status"],
     ["[deploy] prefix is \"/srv/it's\"", "._~/@+- only"]),
    ("state_dir empty", {"nginx": 'state_dir = ""'}, ["status"], ["[nginx] state_dir is ''"]),
    ("state_dir nginx", {"nginx": 'state_dir = "/var/x;return(200);#"'}, ["status"],
     ["[nginx] state_dir is '/var/x;return(200);#'", "._~/@+- only"]),
    ("site braces", {"nginx": 'site = "/etc/nginx/a{b}.conf"'}, ["status"],
     ["[nginx] site is '/etc/nginx/a{b}.conf'", "._~/@+- only"]),
    ("site relative", {"nginx": 'site = "demo.conf"'}, ["status"],
     ["[nginx] site is 'demo.conf'", "absolute"]),
    ("server_name newline", {"nginx": 'server_name = "a\\nb"'}, ["status"],
     ["[nginx] server_name is 'a\\nb'", "nginx server names"]),
    ("server_name semicolon", {"nginx": 'server_name = "a; return 200"'}, ["status"],
     ["[nginx] server_name is 'a; return 200'"]),
    ("health_path newline", {"deploy": 'health_path = "/h\\nx"'}, ["status"],
     ["[deploy] health_path is '/h\\nx'", "a URL path"]),
    ("health_path semicolon", {"deploy": 'health_path = "/h;x"'}, ["status"],
     ["[deploy] health_path is '/h;x'"]),
    ("--color empty", {}, ["deploy", "1.0", "--color", ""], ["'' is not a valid colour"]),
    ("--hosts empty", {}, ["status", "--hosts", ","], ["--hosts ',' names no host"]),
    ("pypi serve port", {}, ["pypi", "serve", "--port", "99999"],
     ["--port 99999 is out of range", "1 to 65535"]),
    ("missing config", {}, ["-c", "/nonexistent/essay.toml", "status"],
     ["-c/--config /nonexistent/essay.toml: cannot read it", "No such file"]),
    ("bad message", {}, ["flip", "b", "--message", "x\u2028y"],
     ["--message must be one line", "\\u2028"]),
]


@pytest.mark.parametrize("changes, args, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_nothing_remote(tmp_path, listener, changes, args, expected):
    (tmp_path / "essay.toml").write_text(toml(listener.port, **changes))
    before = listener.count
    p = subprocess.run([sys.executable, "-m", "essay", *args], cwd=tmp_path, text=True,
                       capture_output=True, timeout=60, env=clean_env(tmp_path, NO_COLOR="1"))
    assert p.returncode != 0, p.stdout + p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.startswith("es:")]
    assert len(lines) == 1, p.stderr
    for part in expected:
        assert part in lines[0], lines[0]
    assert listener.count == before, f"{listener.count - before} connection(s) were opened"


def test_hosts_outside_the_roles_are_named(tmp_path, listener):
    """--hosts naming a host in no role: a warning naming it (the command goes ahead)."""
    (tmp_path / "essay.toml").write_text(toml(listener.port))
    p = subprocess.run([sys.executable, "-m", "essay", "status", "--hosts",
                        f"127.0.0.1:{listener.port},stranger.invalid"], cwd=tmp_path,
                       text=True, capture_output=True, timeout=60,
                       env=clean_env(tmp_path, NO_COLOR="1"))
    assert "warning: --hosts names stranger.invalid, in no role" in p.stderr, p.stderr


def test_the_rendered_site_starts_with_essays_mark(tmp_path):
    from essay.config import from_dict
    from essay.render import SITE_MARK, nginx_conf

    cfg = from_dict({"project": {"name": "demo"}}, None, root=tmp_path)
    assert nginx_conf(cfg).startswith(f"{SITE_MARK} for demo;")


# --- the command line's first contact --------------------------------------------------

def es(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "essay", *args], cwd=tmp_path, text=True,
                          capture_output=True, timeout=60,
                          env=clean_env(tmp_path, NO_COLOR="1"))


def test_a_mistyped_command_or_flag_gets_the_nearest_and_the_subcommands_usage(tmp_path):
    p = es(tmp_path, "deploi", "1")
    assert p.returncode == 2 and "did you mean `es deploy`?" in p.stderr, p.stderr
    p = es(tmp_path, "lock", "statsu")
    assert "did you mean `es lock status`?" in p.stderr, p.stderr
    p = es(tmp_path, "deploy", "1", "--colr", "a")
    assert p.returncode == 2, p.stderr
    assert "unrecognized arguments: --colr a; did you mean --color?" in p.stderr
    assert "usage: es deploy " in p.stderr and "usage: es [-h]" not in p.stderr
    assert "--color C, --colour C" in es(tmp_path, "deploy", "--help").stdout


def test_colour_is_color(tmp_path, listener):
    (tmp_path / "essay.toml").write_text(toml(listener.port))
    before = listener.count
    p = es(tmp_path, "deploy", "1.0", "--colour", "q")
    assert "unknown colour 'q'" in p.stderr, p.stderr
    assert listener.count == before


def test_fab_task_help_after_every_task(tmp_path):
    """`fab TASK -h` and `fab TASK --help` show that task's help for every task of a
    generated project (neither is taken as a value: `-h` is no task's short flag), and every
    task's environment option is `-e`/`--env`."""
    import re
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    assert es(tmp_path, "init", "--no-input").returncode == 0
    fab = str(Path(sys.executable).parent / "fab")   # this essay's fab, not another on PATH

    def run(*args):
        return subprocess.run([fab, *args], cwd=tmp_path, text=True, capture_output=True,
                              timeout=120, env=clean_env(tmp_path))

    listing = run("-l", "-F", "flat").stdout
    tasks = {}   # what is typed -> the task's full name
    for name, alias in re.findall(r"^  ([a-z][\w.-]*)(?: \(([\w.-]+)\))?", listing, re.M):
        tasks[name] = name
        if alias:
            tasks[alias] = name
    assert {"deploy", "status", "run", "supervisor", "flip", "server"} <= set(tasks), listing
    calls = [(typed, flag) for typed in tasks for flag in ("-h", "--help")]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: run(c[0], c[1]), calls))
    for (typed, flag), p in zip(calls, results):
        assert p.returncode == 0, (typed, flag, p.stderr)
        assert f"Usage: fab [--core-opts] {tasks[typed]} [--options]" in p.stdout, \
            (typed, flag, p.stdout, p.stderr)
        assert "-e STRING, --env=STRING" in p.stdout, (typed, p.stdout)
        assert "Traceback" not in p.stderr and "needed value" not in p.stderr, p.stderr
    p = run("--help", "deploy")
    assert "--colour" in p.stdout and "-t, --retry-failed" in p.stdout, p.stdout


def test_workers_with_a_template_that_ignores_them_are_refused_before_anything_remote(
        tmp_path, listener):
    """[workers] set, and the project's own supervisord template (made before [workers])
    renders no worker program: es deploy refuses naming the template, before any round
    trip; es doctor says what to write (its local findings)."""
    import os

    (tmp_path / "essay.toml").write_text(toml(listener.port) +
                                         '[workers]\nbeat = "python -m demo.beat"\n')
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "supervisord.conf.j2").write_text(
        "[program:web-0]\ncommand = {{ essay_exec }} {{ venv }}/bin/gunicorn --keep-alive 75 "
        "{{ package }}.wsgi:application\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1",
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    before = listener.count
    p = subprocess.run([sys.executable, "-m", "essay", "deploy", "1.0"], cwd=tmp_path,
                       text=True, capture_output=True, timeout=60, env=env)
    assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.startswith("es:")]
    assert len(lines) == 1 and "[workers] sets beat, but " in lines[0], p.stderr
    assert "conf/supervisord.conf.j2 renders no [program:worker-beat]" in lines[0]
    assert listener.count == before, f"{listener.count - before} connection(s) were opened"
    p = subprocess.run([sys.executable, "-m", "essay", "doctor"], cwd=tmp_path, text=True,
                       capture_output=True, timeout=60, env=env)
    assert "does not use `workers`: essay.toml [workers] (beat) would deploy no worker " \
           "program" in p.stdout + p.stderr, p.stdout + p.stderr
