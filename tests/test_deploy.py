"""``es deploy``, ``es status`` and ``es supervisor`` on the real rig (tests/rig.py).

Everything is real: the web hosts are network namespaces with their own sshd, pip installs
from the project's own pypiserver, each colour runs its own supervisord and gunicorns.
Round trips are counted from sshd's own log (``rig.mark`` / ``rig.channels``).

The tests share the session's project and rig with other test files, so none relies on
what is live or on the order the tests run in: each makes the state it needs
(:func:`ensure`), with an explicit ``--color`` and ``--force`` (the colour may be live).
Colour ``a`` is where things get deployed and broken; ``b`` is "the other colour", which
must keep serving, untouched, whatever happens to ``a``.
"""
import contextlib
import json
import re
import shutil
from pathlib import Path

import pytest
from rig_util import uv_on_hosts

pytestmark = [pytest.mark.rig, pytest.mark.slow]
WEB = ["web1", "web2"]
PORTS = {"a": [8800, 8801], "b": [8810, 8811]}
SHORT = 6   # [deploy] health_timeout while deploying a version that never gets healthy
LIVE = r"(live\s+|canary \d+%\s+)?"    # the status table's live column, if not empty


# --- helpers ----------------------------------------------------------------------------

def es(project, *args, ok=True):
    """Run ``es``; ``ok``: assert it succeeded (True) or failed (False); None: no check."""
    p = project.es(*args)
    if ok is not None:
        assert (p.returncode == 0) == ok, \
            f"es {' '.join(map(str, args))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p


def served(rig, host, port):
    """The version the process on ``host:port`` reports on /health (it must answer 200)."""
    status, body = rig.http_get(host, port, "/health")
    assert status == 200, f"{host}:{port}/health answered {status}: {body}"
    return json.loads(body)["version"]


def serving(rig, color, hosts=WEB):
    """The set of versions a colour's processes answer with (ConnectionError if one is
    down)."""
    return {served(rig, h, p) for h in hosts for p in PORTS[color]}


def ensure(rig, project, color, version):
    """Make ``color`` serve ``version`` on every web host, deploying only if it does not."""
    try:
        if serving(rig, color) == {version}:
            return
    except (ConnectionError, AssertionError, ValueError):
        pass
    es(project, "deploy", version, "--color", color, "--force")
    assert serving(rig, color) == {version}


def colour_state(rig, color, hosts=WEB, prefix="~/demo"):
    """What a colour is, per host: supervisord's pid, its programs' pids, the versions its
    ports answer with. Equal before and after means: not touched."""
    out = {}
    for h in hosts:
        d = f"{prefix}/{color}"
        out[h] = rig.sh(h, f"cat {d}/run/supervisord.pid; {d}/bin/supervisorctl -c "
                           f"{d}/etc/supervisord.conf pid all").stdout.split()
        out[h] += [served(rig, h, p) for p in PORTS[color]]
    return out


def release(rig, host, color, prefix="~/demo"):
    return json.loads(rig.sh(host, f"cat {prefix}/{color}/release.json").stdout)


def marked(rig, hosts=(*WEB, "lb")):
    for h in hosts:
        rig.mark(h)


def one_exec(rig, hosts):
    """Exactly one round trip (one exec channel, no sftp, no shell) on each host."""
    got = {h: rig.channels(h) for h in hosts}
    assert all(c == {"exec": 1, "shell": 0, "sftp": 0} for c in got.values()), got


def no_channels(rig, hosts):
    got = {h: rig.channels(h) for h in hosts}
    assert all(sum(c.values()) == 0 for c in got.values()), got


def row(out, host, color, version, rest):
    """A line of ``es deploy`` / ``es status`` output: host, colour, version, then ``rest``
    (a regex)."""
    assert re.search(rf"^{re.escape(host)}\s+{color}\s+{re.escape(version)}\s+{rest}", out,
                     re.M), out


def configure(project, deploy="", extra="", prefix=None, ports=None, timeout=15, roles=None,
              state_dir=None):
    """essay.toml for the rig with a short health timeout, plus ``deploy`` lines in
    [deploy], another prefix or other base ports, ``roles`` lines in place of the web
    role's, another lb ``state_dir`` (its own live colour and recorded versions: a test
    with its own prefix and ports must not record them in the session's); committed like
    write_config does."""
    rig = project.rig
    text = rig.essay_toml("demo", index_url=project.index_url,
                          upload_url=f"http://{rig.index_address}:{project.port}/",
                          extra="\n[ssh]\nconnect_timeout = 5\n" + extra)
    subs = [('health_path = "/health"\n',
             f'health_path = "/health"\nhealth_timeout = {timeout}\n' + deploy)]
    if prefix:
        subs.append(('prefix = "~/demo"', f'prefix = "{prefix}"'))
    if ports:
        subs.append(("a = 8800\nb = 8810", f"a = {ports[0]}\nb = {ports[1]}"))
    if roles:
        subs.append((f"web = {json.dumps(rig.web)}\n", roles))
    if state_dir:
        site = re.search(r"^site = .*$", text, re.M).group(0)
        subs.append((site, f"{site}\nstate_dir = {json.dumps(state_dir)}"))
    for old, new in subs:
        assert old in text, f"rig.essay_toml changed: no {old!r}"
        text = text.replace(old, new)
    (project.path / "essay.toml").write_text(text)
    project.git("commit", "-qam", "essay.toml for test_deploy", "--allow-empty")


@contextlib.contextmanager
def configured(project, **kw):
    configure(project, **kw)
    try:
        yield
    finally:
        configure(project)


@contextlib.contextmanager
def committed_change(project, path, change, message):
    """A commit that appends ``change`` to ``path`` (or makes the replacement ``(old,
    new)``); reverted (another commit) after."""
    f = project.path / path
    text = f.read_text()
    if isinstance(change, tuple):
        assert change[0] in text, f"{path} has no {change[0]!r}"
        f.write_text(text.replace(*change, 1))
    else:
        f.write_text(text + change)
    project.git("commit", "-qam", message)
    try:
        yield
    finally:
        project.git("revert", "--no-edit", "HEAD")


def shutdown(rig, prefix, hosts=WEB):
    """Stop every supervisord under ``prefix`` and remove it (a fresh prefix's cleanup)."""
    for h in hosts:
        rig.sh(h, f"for d in {prefix}/*/; do [ -x \"$d/bin/supervisorctl\" ] && "
                  f"\"$d/bin/supervisorctl\" -c \"$d/etc/supervisord.conf\" shutdown; done; "
                  f"rm -rf {prefix}", check=False)


# --- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def config(project):
    configure(project)
    yield
    project.write_config()


@pytest.fixture(scope="module")
def good(project, config):
    """Two good versions on the index: (v1, v2)."""
    return project.build(), project.build()


@pytest.fixture(scope="module")
def colours(rig, project, good):
    """v1 in colour a and v2 in colour b on both web hosts; returns (v1, v2, outputs),
    outputs: per colour the deploy's stdout and the channels sshd opened on each host."""
    out = {}
    for color, v in zip("ab", good):
        marked(rig)
        p = es(project, "deploy", v, "--color", color, "--force")
        out[color] = (p.stdout, {h: rig.channels(h) for h in WEB})
    return (*good, out)


BROKEN_500 = '''

_app = app


def app(environ, start_response):  # noqa: F811 -- broken on purpose, for essay's tests
    if environ.get("PATH_INFO") == "/health":
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"database unreachable (broken on purpose)\\n"]
    return _app(environ, start_response)
'''
CRASH = '\nraise RuntimeError("broken on purpose: this build cannot start")\n'
MISSING_DEPENDENCY = ('dependencies = [\n', 'dependencies = [\n    "essay-test-no-such-dist>=1",\n')


@pytest.fixture(scope="module")
def broken(project, config):
    """Broken versions, each built from a commit that is reverted straight after:
    http500 (/health answers 500), crash (exits at start), nodep (a dependency no index
    has)."""
    out = {}
    with committed_change(project, "demo/app.py", BROKEN_500, "/health answers 500"):
        out["http500"] = project.build("--label", "http500")
    with committed_change(project, "demo/wsgi.py", CRASH, "cannot start"):
        out["crash"] = project.build("--label", "crash")
    with committed_change(project, "pyproject.toml", MISSING_DEPENDENCY, "cannot install"):
        out["nodep"] = project.build("--label", "nodep")
    return out


# --- deploy: the good path -------------------------------------------------------------

def test_two_colours_serve_their_own_versions_after_one_round_trip_per_host(rig, colours):
    v1, v2, out = colours
    for color, v in (("a", v1), ("b", v2)):
        stdout, channels = out[color]
        assert all(c == {"exec": 1, "shell": 0, "sftp": 0} for c in channels.values()), \
            channels
        for h in WEB:
            row(stdout, h, color, v, r"ok\s+\d+\.\d$")
    for h in WEB:
        assert [served(rig, h, p) for p in PORTS["a"]] == [v1, v1]
        assert [served(rig, h, p) for p in PORTS["b"]] == [v2, v2]
        for color, v in (("a", v1), ("b", v2)):
            rel = release(rig, h, color)
            assert rel["version"] == v and rel["color"] == color
            assert re.fullmatch(r"[0-9a-f]{40}", rel["commit"]), rel
            health = json.loads(rig.http_get(h, PORTS[color][0], "/health")[1])
            assert rel["commit"] == health["commit"]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rel["time"]), rel
            assert re.fullmatch(r"[^@\s]+@[^@\s]+", rel["user"]), rel
        # the layout, and a control socket only its owner can use
        d = rig.sh(h, "cd ~/demo/a && ls -d etc logs run && stat -c '%a %U' run/supervisor.sock "
                      "etc/supervisord.conf").stdout.split()
        assert d[:3] == ["etc", "logs", "run"]
        assert d[3:] == ["700", rig.user(h), "600", rig.user(h)], d
        # gunicorn's own control socket (gunicorn >= 25.1) is the colour's, not ~/.gunicorn
        assert rig.sh(h, "test ! -e ~/.gunicorn", check=False).returncode == 0


def test_redeploying_the_same_version_is_idempotent(rig, project, good):
    v1, v2 = good
    ensure(rig, project, "a", v1)
    ensure(rig, project, "b", v2)
    b_before = colour_state(rig, "b")
    pid_a = {h: rig.sh(h, "cat ~/demo/a/run/supervisord.pid").stdout for h in WEB}
    for _ in range(2):
        marked(rig)
        es(project, "deploy", v1, "--color", "a", "--force")
        one_exec(rig, WEB)         # a warm host: still one round trip
    for h in WEB:
        assert [served(rig, h, p) for p in PORTS["a"]] == [v1, v1]
        # the colour's supervisord stays; its programs were restarted
        assert rig.sh(h, "cat ~/demo/a/run/supervisord.pid").stdout == pid_a[h]
        log = rig.sh(h, "cat ~/demo/a/releases.log").stdout.splitlines()
        assert [json.loads(line)["version"] for line in log[-2:]] == [v1, v1]
    assert colour_state(rig, "b") == b_before     # the other colour: not touched at all


def test_a_new_version_reloads_gunicorn_and_its_new_workers_see_the_new_environment(
        rig, project, good):
    """Only the project's own distribution changed: each gunicorn master is reloaded
    (SIGHUP, the same pid) instead of restarted, and its new workers -- forks of a master
    essay-exec started for v1 -- answer with v2 and ESSAY_VERSION=v2 (essay's
    gunicorn.conf.py hook). Then the redeploy of v1 reloads them back."""
    v1, v2 = good
    ensure(rig, project, "a", v1)
    for old, new in ((v1, v2), (v2, v1)):
        masters = {h: colour_state(rig, "a")[h][1:3] for h in WEB}
        es(project, "deploy", new, "--color", "a", "--force")
        for h in WEB:
            assert colour_state(rig, "a")[h][1:3] == masters[h], "restarted, not reloaded"
            for port in PORTS["a"]:
                assert served(rig, h, port) == new
                env = json.loads(rig.http_get(h, port, "/env")[1])
                assert env["ESSAY_VERSION"] == new and env["ESSAY_COLOR"] == "a", env


def test_status_shows_both_colours(rig, project, good):
    v1, v2 = good
    ensure(rig, project, "a", v1)
    ensure(rig, project, "b", v2)
    marked(rig)
    p = es(project, "status")
    for h in WEB:
        for color, v in (("a", v1), ("b", v2)):
            lo, hi = PORTS[color]
            row(p.stdout, h, color, v, LIVE + rf"2/2 running\s+{lo}-{hi}\s+2/2 healthy$")
    one_exec(rig, WEB)
    assert re.search(r"live colour: (none yet|[ab])", p.stderr), p.stderr


def test_fresh_host_dry_run_then_one_round_trip_fresh_and_warm_and_parallel_1(rig, project,
                                                                               good):
    """A prefix never deployed to: --dry-run shows the script and creates nothing; the
    first deploy (venv made, everything installed) is one round trip, and so is the next."""
    v1, v2 = good
    prefix = "~/fresh"
    try:
        with configured(project, prefix=prefix, ports=(8820, 8830)):
            marked(rig)
            p = es(project, "deploy", v1, "--color", "a", "--dry-run")
            no_channels(rig, WEB)      # dry run: the web hosts are not even connected to
            for h in WEB:
                assert f"### {h}: would run over ssh as `bash -s`:" in p.stdout
                assert rig.sh(h, f"test -e {prefix}", check=False).returncode == 1
            script = p.stdout.split("### web2")[0]
            for what in (f"demo==={v1}", "bin/supervisord -c", "release.json", "pip install"):
                assert what in script, script
            assert "dry run: nothing changed" in p.stderr

            marked(rig)
            es(project, "deploy", v1, "--color", "a", "--hosts", "web2")
            one_exec(rig, ["web2"])
            no_channels(rig, ["web1"])
            assert [served(rig, "web2", p) for p in (8820, 8821)] == [v1, v1]

            # web1 fresh, web2 warm, one host at a time
            marked(rig)
            p = es(project, "deploy", v2, "--color", "a", "--parallel", "1")
            one_exec(rig, WEB)
            for h in WEB:
                assert [served(rig, h, p) for p in (8820, 8821)] == [v2, v2]
            progress = [line.split(":")[0] for line in p.stderr.splitlines()
                        if re.match(r"web\d: \w+$", line)]
            assert progress == sorted(progress), "--parallel 1 ran the hosts at the same time"
    finally:
        shutdown(rig, prefix)


def test_uv_installer_into_a_fresh_and_a_warm_colour(rig, project, good):
    """[deploy] installer = "uv": venv and install by uv, still one round trip."""
    v1, v2 = good
    uv_on_hosts()
    prefix = "~/fresh-uv"
    try:
        with configured(project, prefix=prefix, ports=(8840, 8850),
                        deploy='installer = "uv"\n'):
            for version in (v1, v2):            # fresh, then warm
                marked(rig)
                p = es(project, "deploy", version, "--color", "a")
                one_exec(rig, WEB)
                for h in WEB:
                    assert [served(rig, h, port) for port in (8840, 8841)] == [version] * 2
                    cfg = rig.sh(h, f"cat {prefix}/a/pyvenv.cfg").stdout
                    assert "uv = " in cfg, cfg          # the venv was made by uv
    finally:
        shutdown(rig, prefix)


def test_deploy_latest(rig, project, good):
    latest = project.build()
    # a src/ layout's version file: release.json still finds the commit in demo._release
    with configured(project, extra='[build]\nversion_file = "src/demo/_release.py"\n'):
        p = es(project, "deploy", "latest", "--color", "a", "--force")
    assert f"deploying demo {latest} into colour a" in p.stderr
    assert serving(rig, "a") == {latest}
    rel = release(rig, "web1", "a")
    assert rel["version"] == latest and re.fullmatch(r"[0-9a-f]{40}", rel["commit"]), rel


def test_live_colour_is_refused_without_force_and_the_idle_one_is_the_default(rig, project,
                                                                              good):
    v1, v2 = good
    live = re.search(r"live colour: ([a-z0-9]+)", es(project, "status").stderr).group(1)
    if live == "none":             # nothing live yet: make b live
        ensure(rig, project, "b", v2)
        es(project, "flip", "b")
        live = "b"
    idle = "a" if live == "b" else "b"
    ensure(rig, project, live, v2)
    before = colour_state(rig, live)
    marked(rig)
    p = es(project, "deploy", v1, "--color", live, ok=False)
    assert p.returncode == 2, p.stderr
    assert f"colour {live} is live" in p.stderr and "--force" in p.stderr
    no_channels(rig, WEB)
    p = es(project, "deploy", v1)
    assert f"into colour {idle}" in p.stderr, p.stderr
    assert serving(rig, idle) == {v1}
    assert colour_state(rig, live) == before


def test_hooks_run_in_the_colour_venv_knowing_version_colour_profile(rig, project, good):
    v1, _ = good
    for h in WEB:
        rig.sh(h, "rm -f ~/hooks.log")
    log = "echo {what} $ESSAY_VERSION $ESSAY_COLOR $ESSAY_PROFILE $(command -v python) >> ~/hooks.log"
    hooks = ("pre_deploy = " + json.dumps([log.format(what="pre")]) +
             "\npost_deploy = " + json.dumps([log.format(what="post")]) + "\n")
    hook = '''
from essay import hooks


@hooks.pre_deploy
def tell(ctx):
    return f"echo py-pre {ctx.host} {ctx.version} {ctx.color} {ctx.profile} >> ~/hooks.log"
'''
    with configured(project, deploy=hooks), \
            committed_change(project, "fabfile.py", hook, "a python pre_deploy hook"):
        es(project, "deploy", v1, "--color", "a", "--force", "--profile", "staging")
    for h in WEB:
        home = rig.home_of(h)
        assert rig.sh(h, "cat ~/hooks.log").stdout.splitlines() == [
            f"pre {v1} a staging {home}/demo/a/bin/python",
            f"py-pre {h} {v1} a staging",
            f"post {v1} a staging {home}/demo/a/bin/python"]
        assert release(rig, h, "a")["profile"] == "staging"
        assert 'ESSAY_PROFILE="staging"' in rig.sh(h, "cat ~/demo/a/etc/supervisord.conf").stdout
        rig.sh(h, "rm -f ~/hooks.log")


def test_a_python_hook_that_raises_stops_the_deploy_before_any_web_host(rig, project, good):
    hook = '''
from essay import hooks


@hooks.pre_deploy
def migrate(ctx):
    raise RuntimeError("no database settings for profile " + ctx.profile)
'''
    with committed_change(project, "fabfile.py", hook, "a hook that raises"):
        marked(rig)
        p = es(project, "deploy", good[0], "--color", "a", "--force", ok=False)
    assert p.returncode == 1
    assert "pre_deploy hook migrate (fabfile.py) failed on web1: RuntimeError: no database " \
           "settings for profile default" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    no_channels(rig, WEB)
    assert "the lock is free" in es(project, "lock", "status").stderr   # released


# --- es supervisor ----------------------------------------------------------------------

def test_supervisor_stop_start_and_status_tells_the_truth(rig, project, good):
    v1, v2 = good
    ensure(rig, project, "a", v1)
    ensure(rig, project, "b", v2)
    b_before = colour_state(rig, "b")
    p = es(project, "supervisor", "stop", ok=False)
    assert p.returncode == 2 and "needs --color" in p.stderr

    es(project, "supervisor", "stop", "--color", "a")
    for h in WEB:
        for port in PORTS["a"]:
            with pytest.raises(ConnectionError):
                rig.http_get(h, port, "/health")
    p = es(project, "status")
    for h in WEB:
        row(p.stdout, h, "a", v1, r"0/2 running \(2 STOPPED\)\s+8800-8801\s+0/2 healthy$")
        row(p.stdout, h, "b", v2, LIVE + r"2/2 running\s+8810-8811\s+2/2 healthy$")
    p = es(project, "supervisor", "status", "--color", "a")
    assert len(re.findall(r"^web\d\s+a\s+web-\d\s+STOPPED", p.stdout, re.M)) == 4, p.stdout

    es(project, "supervisor", "start", "--color", "a")
    assert serving(rig, "a") == {v1}

    # one program; then supervisord itself gone: status says stopped, start starts it
    pids = colour_state(rig, "a")
    es(project, "supervisor", "restart", "web-1", "--color", "a")
    after = colour_state(rig, "a")
    for h in WEB:       # [supervisord, web-0, web-1, versions...]: only web-1 is new
        assert after[h][:2] == pids[h][:2] and after[h][2] != pids[h][2]
        rig.sh(h, "~/demo/a/bin/supervisorctl -c ~/demo/a/etc/supervisord.conf shutdown")
    p = es(project, "status")
    for h in WEB:
        row(p.stdout, h, "a", v1, r"stopped\s+8800-8801\s+0/2 healthy$")
    es(project, "supervisor", "start", "--color", "a")
    assert serving(rig, "a") == {v1}

    # a deploy into a colour whose programs are stopped starts them
    es(project, "supervisor", "stop", "--color", "a")
    es(project, "deploy", v2, "--color", "a", "--force")
    assert serving(rig, "a") == {v2}
    assert colour_state(rig, "b") == b_before


# --- faults: each fails clearly, leaves the other colour serving, and the next deploy works

def test_version_not_on_the_index_fails_before_touching_any_host(rig, project, good):
    ensure(rig, project, "b", good[1])
    b_before = colour_state(rig, "b")
    marked(rig)
    p = es(project, "deploy", "1999.1.1.1", "--color", "a", "--force", ok=False)
    assert "demo 1999.1.1.1 is not on the index" in p.stderr, p.stderr
    no_channels(rig, [*WEB, "lb"])
    assert colour_state(rig, "b") == b_before


def _one_host_failed(p, version, bad, message):
    """web1 deployed fine, ``bad`` failed saying ``message`` (a regex)."""
    assert p.returncode == 1, p.stdout + p.stderr
    row(p.stdout, "web1", "a", version, r"ok\s")
    row(p.stdout, bad, "a", version, r"FAILED\s")
    assert re.search(message, p.stdout), p.stdout
    assert f"failed on {bad}" in p.stderr, p.stderr


@pytest.fixture
def a_and_b(rig, project, good):
    """Both colours serving (any good version) on both hosts; their state before."""
    for color, v in zip("ab", good):
        try:
            if len(serving(rig, color)) == 1:
                continue
        except (ConnectionError, AssertionError, ValueError):
            pass
        ensure(rig, project, color, v)
    return colour_state(rig, "a"), colour_state(rig, "b")


def test_unreachable_host(rig, project, good, a_and_b):
    a_before, b_before = a_and_b
    ghost = f"{rig.subnet}.99"
    p = es(project, "deploy", good[0], "--color", "a", "--force", "--hosts", f"web1,{ghost}",
           ok=None)
    _one_host_failed(p, good[0], ghost, rf"(?m)^{re.escape(ghost)}: (cannot connect|timed out)")
    assert serving(rig, "a", ["web1"]) == {good[0]}
    assert colour_state(rig, "a", ["web2"]) == {"web2": a_before["web2"]}  # not in --hosts
    assert colour_state(rig, "b") == b_before
    p = es(project, "status", "--hosts", f"web1,{ghost}", ok=False)   # a row, and why
    assert re.search(rf"^{re.escape(ghost)}\s+-\s+-\s+-\s+-\s+unreachable$", p.stdout, re.M), \
        p.stdout
    assert re.search(rf"warning: {re.escape(ghost)}: (cannot connect|timed out)", p.stderr)
    row(p.stdout, "web1", "a", good[0], LIVE + r"2/2 running")


def test_host_key_not_in_known_hosts(rig, project, good, a_and_b):
    a_before, b_before = a_and_b
    known = Path(rig.known_hosts)
    saved = known.read_text()
    known.write_text("".join(line + "\n" for line in saved.splitlines()
                             if line.split()[0] not in ("web2", rig.address("web2"))))
    try:
        marked(rig, ["web2"])
        p = es(project, "deploy", good[0], "--color", "a", "--force", ok=None)
        no_channels(rig, ["web2"])             # no session opened, nothing run
    finally:
        known.write_text(saved)
    _one_host_failed(p, good[0], "web2", r"(?m)^web2: its host key is not in known_hosts")
    assert colour_state(rig, "a", ["web2"]) == {"web2": a_before["web2"]}
    assert colour_state(rig, "b") == b_before
    es(project, "deploy", good[0], "--color", "a", "--force")   # key back: all good again


def test_authorized_key_removed(rig, project, good, a_and_b):
    a_before, b_before = a_and_b
    keys = rig.sshd_dir("web2") / "authorized_keys"
    shutil.move(keys, f"{keys}.off")
    try:
        p = es(project, "deploy", good[0], "--color", "a", "--force", ok=None)
    finally:
        shutil.move(f"{keys}.off", keys)
    _one_host_failed(p, good[0], "web2", r"(?m)^web2: SSH authentication failed")
    assert colour_state(rig, "a", ["web2"]) == {"web2": a_before["web2"]}
    assert colour_state(rig, "b") == b_before
    es(project, "deploy", good[0], "--color", "a", "--force")


def test_app_answering_500_fails_its_health_check(rig, project, good, broken, a_and_b):
    bad = broken["http500"]
    last_good = release(rig, "web1", "a")["version"]
    with configured(project, timeout=SHORT):
        p = es(project, "deploy", bad, "--color", "a", "--force", ok=False)
    assert p.returncode == 1
    for h in WEB:
        row(p.stdout, h, "a", bad, r"FAILED\s")
    out = p.stdout.split("\nweb2: ")[1]
    assert out.startswith("health failed (exit 3):\n"), out
    assert "UNHEALTHY http://127.0.0.1:8800/health  last answer: HTTP 500 database " \
           "unreachable (broken on purpose)" in out, out
    assert re.search(r"web-0\s+RUNNING", out), out                 # supervisor's view
    assert "--- tail" in out and "supervisord.log" in out, out     # the logs' tails
    assert colour_state(rig, "b") == a_and_b[1]
    p = es(project, "status")     # what a holds now: running, not healthy
    row(p.stdout, "web1", "a", f"{bad} (last good deploy: {last_good})",
        LIVE + r"2/2 running\s+8800-8801\s+0/2 healthy$")
    es(project, "deploy", good[0], "--color", "a", "--force")
    assert serving(rig, "a") == {good[0]}


def test_app_that_exits_at_start_fails_its_health_check(rig, project, good, broken, a_and_b):
    bad = broken["crash"]
    with configured(project, timeout=SHORT):
        p = es(project, "deploy", bad, "--color", "a", "--force", ok=False)
    assert p.returncode == 1
    out = p.stdout.split("\nweb1: ")[1]
    assert out.startswith("health failed (exit 3):\n"), out
    # refused, or reset by a gunicorn master that is shutting down: either way no answer
    assert re.search(r"UNHEALTHY http://127.0.0.1:8800/health  last answer: "
                     r"(ConnectionRefusedError|ConnectionResetError|RemoteDisconnected)", out), out
    # supervisor's view is shown; which state it is in depends on when gunicorn's worker
    # failed (RUNNING once the master outlived startsecs, on a loaded machine)
    assert re.search(r"web-0\s+(FATAL|BACKOFF|STARTING|EXITED|RUNNING)", out), out
    assert "RuntimeError: broken on purpose: this build cannot start" in out, out
    assert colour_state(rig, "b") == a_and_b[1]
    p = es(project, "status")
    row(p.stdout, "web2", "a", bad, r".*\s8800-8801\s+0/2 healthy$")
    es(project, "deploy", good[0], "--color", "a", "--force")
    assert serving(rig, "a") == {good[0]}


def test_a_version_pip_cannot_install_fails_with_pips_error(rig, project, good, broken,
                                                             a_and_b):
    a_before, b_before = a_and_b
    p = es(project, "deploy", broken["nodep"], "--color", "a", "--force", ok=False)
    assert p.returncode == 1
    for h in WEB:
        assert re.search(rf"^{h}: install failed \(exit \d+\):\n", p.stdout, re.M), p.stdout
    assert "No matching distribution found for essay-test-no-such-dist" in p.stdout, p.stdout
    assert colour_state(rig, "a") == a_before   # nothing restarted or changed in a either
    assert colour_state(rig, "b") == b_before
    es(project, "deploy", good[1], "--color", "a", "--force")
    assert serving(rig, "a") == {good[1]}


def test_failing_pre_deploy_hook_stops_the_deploy(rig, project, good, a_and_b):
    a_before, b_before = a_and_b
    version_a = release(rig, "web1", "a")["version"]
    other = good[1] if version_a == good[0] else good[0]
    with configured(project, deploy='pre_deploy = ["echo checking the database", "exit 7"]\n'):
        p = es(project, "deploy", other, "--color", "a", "--force", ok=False)
    assert p.returncode == 1
    for h in WEB:
        row(p.stdout, h, "a", other, r"FAILED\s")
        assert re.search(rf"^{h}: pre_deploy failed \(exit 7\):\nchecking the database$",
                         p.stdout, re.M), p.stdout
    # nothing installed or restarted in a; b untouched
    assert colour_state(rig, "a") == a_before
    assert release(rig, "web1", "a")["version"] == version_a
    assert colour_state(rig, "b") == b_before
    # and a version file the record step cannot import: no commit, but no failure either
    with configured(project, extra='[build]\nversion_file = "demo/not_there.py"\n'):
        es(project, "deploy", other, "--color", "a", "--force")
    assert serving(rig, "a") == {other}
    assert release(rig, "web2", "a")["commit"] == ""


def test_another_process_answering_on_the_port_is_not_taken_for_the_new_version(
        rig, project, good, a_and_b):
    """Another prefix with the same ports: ~/demo/a's processes hold 8800-8801, so the
    new ones cannot bind; what answers there is another version, and the deploy fails."""
    old = served(rig, "web1", 8800)
    new = good[1] if old == good[0] else good[0]
    prefix = "~/clash"
    try:
        with configured(project, prefix=prefix, timeout=SHORT):
            p = es(project, "deploy", new, "--color", "a", "--hosts", "web1", ok=False)
    finally:
        shutdown(rig, prefix, ["web1"])
    assert p.returncode == 1
    assert f"UNHEALTHY http://127.0.0.1:8800/health  last answer: HTTP 200 from version " \
           f"{old}, expected {new}" in p.stdout, p.stdout
    assert colour_state(rig, "a") == a_and_b[0]
