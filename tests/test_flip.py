"""``es flip``, ``es rollback``, canaries, the lock, ``es history`` and ``es release`` on the
real rig (tests/rig.py): real sshd hosts, supervisord, pypiserver and the lb's nginx.

The tests run in file order and share the module's state: two versions deployed into
colours a and b, then flipped between. Each test says what it leaves live. The lb's
state (``~/nginx/conf.d/demo.essay``) and site file are removed at the start and at the
end of the module, so the rig is as other modules expect it.
"""
import contextlib
import json
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from traffic_mix import parse_wrk

pytestmark = [pytest.mark.rig, pytest.mark.slow]
WEB = ["web1", "web2"]
HOSTS = ["web1", "web2", "lb"]
STATE = "nginx/conf.d/demo.essay"          # relative to the lb user's home
GRACE = 3


# --- helpers ---------------------------------------------------------------------------

def es(project, *args, code=0, timeout=300):
    """Run the real ``es``; assert its exit status (None: any). Returns CompletedProcess."""
    p = project.es(*args, timeout=timeout)
    if code is not None:
        assert p.returncode == code, \
            f"es {' '.join(map(str, args))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p


def es_bg(project, *args):
    """Start ``es`` in the background (for runs that hold the lock while we look)."""
    return subprocess.Popen([sys.executable, "-m", "essay", *map(str, args)], cwd=project.path,
                            env=project.env(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def state_dir(rig) -> Path:
    return Path(rig.home_of("lb")) / STATE


def marker(rig) -> str:
    """What the live marker nginx reads points at ('' if there is none)."""
    try:
        return str((state_dir(rig) / "live").readlink())
    except FileNotFoundError:
        return ""


def lb_state(rig) -> dict:
    f = state_dir(rig) / "state"
    return dict(line.split("=", 1) for line in f.read_text().split("\n") if "=" in line) \
        if f.exists() else {}


def history(rig) -> list[list[str]]:
    f = state_dir(rig) / "history"
    return [line.split("\t") for line in f.read_text().split("\n") if line] if f.exists() else []


def site(rig) -> bytes | None:
    f = Path(rig.nginx_site_abs)
    return f.read_bytes() if f.exists() else None


def locked(rig) -> bool:
    return (state_dir(rig) / "lock").exists()


def wait_until(fn, timeout=30.0, interval=0.05, what="condition"):
    end = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


_GET = r"""
import http.client, json, re, sys
out = []
for _ in range(int(sys.argv[1])):
    c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=5)
    c.request("GET", sys.argv[2])
    r = c.getresponse()
    body = r.read().decode("utf-8", "replace")
    m = re.search(r"version ([^<]+)</p>", body)
    out.append([r.status, r.getheader("X-Essay-Color"), m.group(1) if m else body[:200]])
    c.close()
print(json.dumps(out))
"""


def through_lb(rig, n=1, path="/"):
    """``n`` GETs through the lb's nginx (from inside lb): [(status, colour, version)]."""
    p = rig.sh("lb", f"python3 -I -c {shlex.quote(_GET)} {n} {shlex.quote(path)}", timeout=120)
    return [tuple(x) for x in json.loads(p.stdout)]


def serves(rig, color, version, n=10):
    got = set(through_lb(rig, n))
    assert got == {(200, color, version)}, got


def nginx_workers(rig) -> set[str]:
    """The lb's nginx worker pids: a reload replaces them."""
    p = rig.sh("lb", "ps -o pid= --ppid \"$(cat ~/nginx/nginx.pid)\"")
    return set(p.stdout.split())


def mark(rig):
    for h in HOSTS:
        rig.mark(h)


def round_trips(rig) -> dict:
    """Exec channels per host since mark(); sftp must never be used."""
    counts = {h: rig.channels(h) for h in HOSTS}
    assert all(c["sftp"] == 0 and c["shell"] == 0 for c in counts.values()), counts
    return {h: c["exec"] for h, c in counts.items()}


def supervisorctl(rig, host, color, *args):
    d = f"~/demo/{color}"
    return rig.sh(host, f"{d}/bin/supervisorctl -c {d}/etc/supervisord.conf "
                        + " ".join(map(shlex.quote, args)), check=False)


def restart_color(rig, color, hosts=WEB):
    for h in hosts:
        supervisorctl(rig, h, color, "start", "all")
    for h in hosts:
        for port in (rig_ports(color)):
            wait_until(lambda: _healthy(rig, h, port), 30, 0.2, f"{h}:{port} healthy")


def rig_ports(color):
    return {"a": [8800, 8801], "b": [8810, 8811]}[color]


def _healthy(rig, host, port):
    try:
        return rig.http_get(host, port, "/health")[0] == 200
    except ConnectionError:
        return False


def reset_lb(rig):
    """No site file, no state, no lock on lb; nginx reloaded without the site."""
    rig.sh("lb", f"rm -rf ~/{STATE} ~/nginx/conf.d/demo.conf ~/nginx/conf.d/demo.conf.essay-*"
                 f" && {rig.nginx_reload}")


def stop_colors(rig):
    for h in WEB:
        rig.sh(h, "for d in ~/demo/*/; do [ -x \"$d/bin/supervisorctl\" ] && "
                  "\"$d/bin/supervisorctl\" -c \"$d/etc/supervisord.conf\" shutdown; done",
               check=False)


def given_live(rig, project, live, previous=None):
    """Make ``live`` the live colour (and ``previous`` the previous one) unless it is
    already so: each test can run alone, and costs nothing when run in order."""
    st = lb_state(rig)
    if marker(rig) == f"colors/{live}" and (previous is None or st.get("previous") == previous):
        return
    if previous is not None and marker(rig) != f"colors/{previous}":
        es(project, "flip", previous)
    es(project, "flip", live)


def timed(timings, name, fn, *args, **kw):
    t = time.monotonic()
    try:
        return fn(*args, **kw)
    finally:
        timings[name] = round(time.monotonic() - t, 2)


# --- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def timings():
    t = {}
    yield t
    print("\ntimings (s):", json.dumps(t, indent=1))


@pytest.fixture(scope="module")
def fresh(rig, project):
    """The project configured for these tests ([release] grace small); the lb reset."""
    project.write_config(extra=f"\n[release]\ngrace = {GRACE}\n")
    reset_lb(rig)
    yield
    reset_lb(rig)
    stop_colors(rig)
    project.write_config()


@pytest.fixture(scope="module")
def versions(project, fresh):
    return project.build(), project.build()


@pytest.fixture(scope="module")
def deployed(rig, project, versions, timings):
    """v1 in colour a, v2 in colour b, nothing live yet."""
    v1, v2 = versions
    timed(timings, "deploy v1 -> a", es, project, "deploy", v1, "--color", "a")
    timed(timings, "deploy v2 -> b", es, project, "deploy", v2, "--color", "b")
    return v1, v2


# --- bad input: refused before anything runs anywhere ----------------------------------------

def test_bad_input_is_refused_before_any_remote_command(rig, project, fresh, tmp_path):
    canary = tmp_path / "pwned"
    inject = f"$(touch {canary})"
    cases = [
        (("flip", "c"), "unknown colour 'c'"),
        (("flip", f"a;touch {canary}"), "is not a valid colour"),
        (("flip", inject), "is not a valid colour"),
        (("flip", "b", "--weight", "0"), "out of range"),
        (("flip", "b", "--weight", "100"), "out of range"),
        (("flip", "b", "--weight", "-5"), "out of range"),
        (("flip", "b", "--message", "two\nlines"), "one line"),
        (("flip", "b", "--message", "\x1b[2J\x1b[31mred"), "control characters"),
        (("deploy", "latest", "--message", "tab\there"), "control characters"),
        (("rollback", "--message", "x" * 201), "at most 200"),
        (("rollback", "--to", f"1.0;touch {canary}"), "is not a PEP 440 version"),
        (("rollback", "--to", inject), "is not a PEP 440 version"),
        (("deploy", f"1.0`touch {canary}`"), "is not a PEP 440 version"),
        (("deploy", "latest", "--hosts", f"web1;touch {canary}"), "is not a valid host"),
        (("deploy", "latest", "--hosts", f"web1,{inject}"), "is not a valid host"),
        (("release", "--weight", "101"), "out of range"),
        (("release", "--ref", "no-such-ref"), "git ref 'no-such-ref' does not exist"),
        (("release", "--ref", f"HEAD;touch {canary}"), "does not exist"),
        (("release", "--message", "a\rb"), "one line"),
        (("lock", "break", "--message", "a\nb"), "one line"),
        (("history", "--lines", "0"), "at least 1"),
    ]
    for args, why in cases:
        mark(rig)
        t = time.monotonic()
        p = es(project, *args, code=None)
        took = time.monotonic() - t
        assert p.returncode in (1, 2), (args, p.returncode, p.stderr)
        assert why in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr
        assert all(rig.connections(h) == 0 for h in HOSTS), (args, "an SSH login happened")
        assert round_trips(rig) == {h: 0 for h in HOSTS}, args
        assert took < 10, (args, took)
    assert not canary.exists()
    # a dry run prints what would run and runs nothing
    mark(rig)
    p = es(project, "flip", "a", "--dry-run")
    assert "### lb: would run over ssh" in p.stdout and "es_switch" in p.stdout
    assert round_trips(rig) == {h: 0 for h in HOSTS}
    assert marker(rig) == "" and site(rig) is None


def test_flip_and_rollback_with_nothing_deployed_are_refused(rig, project, fresh):
    """They need the lb's state (one read round trip) and change nothing but the history."""
    for args, why in [(("flip", "a"), "nothing is deployed in colour a"),
                      (("flip", "b", "--weight", "10"), "nothing is deployed in colour b"),
                      (("rollback",), "no previous colour to roll back to")]:
        mark(rig)
        p = es(project, *args, code=1)
        assert why in p.stderr, p.stderr
        assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 1}
        assert marker(rig) == "" and site(rig) is None and "live" not in lb_state(rig)
        assert not locked(rig)
    assert [row[2:6] for row in history(rig)] == [
        ["flip", "-", "a", "failed"], ["flip", "-", "b", "failed"],
        ["rollback", "-", "?", "failed"]]
    assert "nothing deployed" in history(rig)[0][6]
    assert "no previous colour" in history(rig)[2][6]


# --- flip and rollback -----------------------------------------------------------------------

def test_first_flip_writes_the_site_and_reloads_once(rig, project, deployed, timings):
    v1, v2 = deployed
    mark(rig)
    p = timed(timings, "first flip (site written, reload)", es, project, "flip", "a")
    # flip (finds the site changed), stage + test, reload, flip
    assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 4}
    assert "applying it on every lb first, nginx reloads once" in p.stderr
    assert "site config changed: nginx reloaded" in p.stderr
    assert [h[2:6] for h in history(rig)[-2:]] == [["nginx apply", "-", "-", "ok"],
                                                   ["flip", "-", "a", "ok"]]
    assert marker(rig) == "colors/a"
    assert b"upstream demo_a" in site(rig) and b"upstream demo_b" in site(rig)
    assert (lb_state(rig)["live"], lb_state(rig)["version_a"]) == ("a", v1)
    serves(rig, "a", v1)
    assert "live colour: a" in es(project, "status").stderr
    # leaves a live


def test_flip_and_rollback_are_one_round_trip_and_never_reload(rig, project, deployed,
                                                               timings):
    v1, v2 = deployed
    given_live(rig, project, "a")
    workers = nginx_workers(rig)
    before = site(rig)
    pwned = f"{rig.home_of('lb')}/pwned"
    message = f"flip $(touch {pwned}) `touch {pwned}`; 'it\"s' \\ * ~"

    mark(rig)
    p = timed(timings, "flip", es, project, "flip", "b", "--message", message)
    assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 1}
    assert "reloaded" not in p.stderr and "lb: a -> b" in p.stderr
    serves(rig, "b", v2, 20)
    assert marker(rig) == "colors/b"
    assert {k: lb_state(rig)[k] for k in ("live", "previous")} == {"live": "b", "previous": "a"}
    last = history(rig)[-1]
    assert last[2:6] == ["flip", "a", "b", "ok"] and last[6] == v2 and last[7] == message
    assert not Path(pwned).exists()

    mark(rig)
    p = timed(timings, "rollback", es, project, "rollback")
    assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 1}
    assert "rolled back" in p.stderr and "lb: b -> a" in p.stderr
    serves(rig, "a", v1, 20)
    assert {k: lb_state(rig)[k] for k in ("live", "previous")} == {"live": "a", "previous": "b"}

    mark(rig)
    es(project, "flip", "b")
    assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 1}
    serves(rig, "b", v2)
    assert nginx_workers(rig) == workers, "nginx was reloaded"
    assert site(rig) == before
    assert not locked(rig)
    # leaves b live, a previous


def test_the_marker_is_the_truth(rig, project, deployed):
    """State that disagrees with the marker is repaired from it when next read."""
    given_live(rig, project, "b")
    rig.sh("lb", f"sed -i 's/^live=.*/live=a/' ~/{STATE}/state")
    p = es(project, "status")
    assert "live colour: b" in p.stderr
    # a dry run (no lock) warns and writes nothing; a locked command repairs the record
    p = es(project, "deploy", deployed[0], "--dry-run")
    assert "disagrees with the marker 'b'" in p.stderr
    assert lb_state(rig)["live"] == "a"
    # (a deploy into the live colour: it locks, reads the state, then is refused)
    p = es(project, "deploy", deployed[0], "--color", "b", code=2)
    assert "the record now says 'b'" in p.stderr
    assert lb_state(rig)["live"] == "b" and marker(rig) == "colors/b"
    assert not locked(rig)


def test_canary_sends_about_the_weight_without_a_reload(rig, project, deployed, timings):
    given_live(rig, project, "b", "a")
    workers = nginx_workers(rig)
    mark(rig)
    v1, v2 = lb_state(rig)["version_a"], lb_state(rig)["version_b"]
    p = timed(timings, "canary flip", es, project, "flip", "a", "--weight", "30")
    assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 1}
    assert "30% canary" in p.stderr
    assert marker(rig) == "colors/canary-a-30-b"
    got = through_lb(rig, 200)
    assert {(s, c, v) for s, c, v in got} <= {(200, "a", v1), (200, "b", v2)}
    share = sum(1 for _, c, _ in got if c == "a")
    assert 30 <= share <= 90, f"{share} of 200 requests went to the 30% canary"
    st = lb_state(rig)
    assert (st["live"], st["canary"], st["weight"]) == ("b", "a", "30")
    assert "canary a at 30%" in es(project, "status").stderr
    assert nginx_workers(rig) == workers

    # a rollback from a canary goes back to the base colour, fully
    mark(rig)
    p = es(project, "rollback")
    assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 1}
    assert marker(rig) == "colors/b"
    serves(rig, "b", v2, 30)
    st = lb_state(rig)
    assert (st["live"], st["previous"], st["canary"]) == ("b", "a", "")
    assert nginx_workers(rig) == workers
    # leaves b live, a previous


def test_a_canary_of_the_live_colour_is_refused(rig, project, deployed):
    given_live(rig, project, "b")
    p = es(project, "flip", "b", "--weight", "10", code=1)
    assert "already live" in p.stderr
    assert marker(rig) == "colors/b"


# --- refusals that need the hosts ------------------------------------------------------------

def test_concurrent_flip_fails_naming_the_other_and_unhealthy_target_is_refused(
        rig, project, deployed, timings):
    """One flip waits on a colour that is down on web2 (holding the lock); a second flip
    meanwhile is refused at once, naming the first. The first is then refused, naming
    what is unhealthy. Nothing changes; the lock is free after."""
    given_live(rig, project, "b")
    supervisorctl(rig, "web2", "a", "stop", "all")
    try:
        first = es_bg(project, "flip", "a", "--message", "first one")
        wait_until(lambda: locked(rig), 20, what="the first flip's lock")
        mark(rig)
        t = time.monotonic()
        p = es(project, "flip", "a", code=3)
        timings["refused while locked"] = round(time.monotonic() - t, 2)
        assert "locked by" in p.stderr and ": flip (first one)" in p.stderr, p.stderr
        assert "es lock break" in p.stderr
        assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 1}
        out, err = first.communicate(timeout=60)
        assert first.returncode == 1, err
        assert "colour a is not healthy" in err
        assert f"UNHEALTHY http://{rig.address('web2')}:8800/health" in err
        assert f"UNHEALTHY http://{rig.address('web1')}" not in err
        assert f"web2 = {rig.address('web2')}" in err          # which host that address is
    finally:
        restart_color(rig, "a", ["web2"])
    assert marker(rig) == "colors/b" and lb_state(rig)["live"] == "b"
    assert not locked(rig)
    assert history(rig)[-1][2:6] == ["flip", "b", "a", "failed"]
    assert "not healthy" in history(rig)[-1][6]


def test_rollback_to_an_unhealthy_previous_colour_is_refused(rig, project, deployed):
    given_live(rig, project, "b", "a")
    supervisorctl(rig, "web1", "a", "stop", "all")
    try:
        mark(rig)
        p = es(project, "rollback", code=1)
        assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 1}
        assert "colour a is not healthy" in p.stderr
        assert f"UNHEALTHY http://{rig.address('web1')}:8800/health" in p.stderr
        assert f"es rollback --to {lb_state(rig)['version_a']}" in p.stderr, p.stderr
        assert "healthy   http" not in p.stderr      # only the failing processes, a line each
    finally:
        restart_color(rig, "a", ["web1"])
    assert marker(rig) == "colors/b" and lb_state(rig)["previous"] == "a"
    assert not locked(rig)


def test_deploying_into_the_live_colour_is_refused(rig, project, deployed):
    given_live(rig, project, "b")
    v1, _ = deployed
    mark(rig)
    p = es(project, "deploy", v1, "--color", "b", code=2)
    assert "colour b is live" in p.stderr and "--force" in p.stderr
    assert round_trips(rig)["web1"] == round_trips(rig)["web2"] == 0
    assert not locked(rig)
    serves(rig, "b", lb_state(rig)["version_b"])


def test_failing_nginx_test_keeps_the_old_site_and_nginx_serving(rig, project, deployed):
    given_live(rig, project, "b")
    template = project.path / "conf" / "nginx.conf.j2"
    good = template.read_text()
    before, workers = site(rig), nginx_workers(rig)
    template.write_text(good + "\nthis_is_not_an_nginx_directive on;\n")
    project.git("commit", "-qam", "a broken nginx template")
    try:
        mark(rig)
        p = es(project, "flip", "a", code=1)
        assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 2}   # flip, stage
        assert "nginx config test failed" in p.stderr
        assert "this_is_not_an_nginx_directive" in p.stderr      # nginx -t's own words
        assert f"([nginx] test = {rig.nginx_test!r})" in p.stderr, p.stderr
        assert "change [nginx] test in essay.toml" in p.stderr
    finally:
        template.write_text(good)
        project.git("commit", "-qam", "the nginx template restored")
    assert site(rig) == before
    assert not list(Path(rig.nginx_site_abs).parent.glob("*.conf.essay-new"))
    assert marker(rig) == "colors/b" and lb_state(rig)["live"] == "b"
    assert nginx_workers(rig) == workers
    serves(rig, "b", lb_state(rig)["version_b"])
    assert history(rig)[-1][2:7] == ["nginx apply", "-", "-", "failed", "refused: nginx config "
                                     "test failed; site config and nginx unchanged"]


@contextlib.contextmanager
def nginx_changed(project, **keys):
    """The site template changed (a comment: the site must be applied before a flip) and
    essay.toml's ``[nginx]`` keys set to ``keys``; both put back after."""
    template, toml = project.path / "conf" / "nginx.conf.j2", project.path / "essay.toml"
    good_template, good_toml = template.read_text(), toml.read_text()
    text = good_toml
    for key, value in keys.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {json.dumps(value)}", text, flags=re.M)
        if n == 0:      # a key the rig's essay.toml leaves at its default
            text, n = text.replace("[nginx]\n", f"[nginx]\n{key} = {json.dumps(value)}\n"), 1
        assert n == 1, key
    template.write_text(good_template + "\n# changed by a test\n")
    toml.write_text(text)
    project.git("commit", "-qam", "a changed site template and [nginx] keys")
    try:
        yield
    finally:
        template.write_text(good_template)
        toml.write_text(good_toml)
        project.git("commit", "-qam", "the nginx template and essay.toml restored")


def test_nginx_test_and_reload_that_cannot_run_are_named(rig, project, deployed):
    """The generated essay.toml's sudo commands on an lb without sudo rights: the flip
    fails naming the key to change; the old site and the live colour stay."""
    given_live(rig, project, "b")
    before, workers = site(rig), nginx_workers(rig)
    with nginx_changed(project, test="sudo -n nginx -t"):
        p = es(project, "flip", "a", code=1)
    assert "nginx config test failed ([nginx] test = 'sudo -n nginx -t')" in p.stderr, p.stderr
    assert "change [nginx] test in essay.toml" in p.stderr
    assert (site(rig), nginx_workers(rig), marker(rig)) == (before, workers, "colors/b")
    with nginx_changed(project, reload="sudo -n nginx -s reload"):
        p = es(project, "flip", "a", code=1)
    assert "nginx reload failed ([nginx] reload = 'sudo -n nginx -s reload')" in p.stderr, \
        p.stderr
    assert "change [nginx] reload in essay.toml" in p.stderr
    assert (site(rig), nginx_workers(rig), marker(rig)) == (before, workers, "colors/b")
    assert not locked(rig)
    serves(rig, "b", lb_state(rig)["version_b"])


def test_a_reload_nginx_does_not_finish_fails_and_is_put_back(rig, project, deployed):
    """``[nginx] reload`` that succeeds but nginx never loads the new config (here: it
    does nothing; in life, a config nginx -t passed and the reload could not apply):
    no new workers within ``[nginx] reload_timeout``, a failed reload, the previous site
    back and nginx's workers untouched. A ``pid_file`` naming no nginx: refused before
    the reload."""
    given_live(rig, project, "b")
    before, workers = site(rig), nginx_workers(rig)
    with nginx_changed(project, reload="true", reload_timeout=1):
        p = es(project, "flip", "a", code=1)
    assert "nginx did not start new worker processes within 1s of the reload" in p.stderr, \
        p.stderr
    assert (site(rig), nginx_workers(rig), marker(rig)) == (before, workers, "colors/b")
    with nginx_changed(project, pid_file="~/nginx/none.pid"):
        p = es(project, "flip", "a", code=1)
    assert re.search(r"\[nginx\] pid_file /\S+/nginx/none.pid names no running nginx",
                     p.stderr), p.stderr
    assert (site(rig), nginx_workers(rig), marker(rig)) == (before, workers, "colors/b")
    assert not locked(rig)
    serves(rig, "b", lb_state(rig)["version_b"])


@pytest.mark.parametrize("lag", [0, 0.5, 2], ids=["reload", "reload-lags-0.5s",
                                                   "reload-lags-2s"])
def test_a_flip_nginx_does_not_follow_is_put_back(rig, project, deployed, lag):
    """A site template that ignores the marker: the flip checks through nginx, sees the
    old colour still served, puts the marker back and fails. Also when nginx takes its
    time to reload (``lag``: ``[nginx] reload`` returns at once and nginx reloads later,
    as ``nginx -s reload`` itself does on a loaded host): the flip waits for nginx's new
    workers, so its verify is not answered by old ones with the old, marker-following
    config."""
    given_live(rig, project, "a")
    template, toml = project.path / "conf" / "nginx.conf.j2", project.path / "essay.toml"
    good, good_toml = template.read_text(), toml.read_text()
    template.write_text(good.replace("if (-f {{ live_dir }}/{{ color }})",
                                     "if (-f {{ live_dir }}/never-{{ color }})"))
    if lag:
        later = shlex.quote(f"sleep {lag}; {rig.nginx_reload}")
        toml.write_text(good_toml.replace(
            f"reload = {json.dumps(rig.nginx_reload)}",
            f"reload = {json.dumps(f'setsid sh -c {later} >/dev/null 2>&1 </dev/null &')}"))
        assert toml.read_text() != good_toml
    project.git("commit", "-qam", "a template that ignores the marker")
    try:
        p = es(project, "flip", "b", code=1)   # nginx keeps serving a (colors[0])
        assert "nginx still serves colour a, not b" in p.stderr, p.stderr
        assert marker(rig) == "colors/a" and lb_state(rig)["live"] == "a"
        assert history(rig)[-1][5] == "failed"
    finally:
        template.write_text(good)
        toml.write_text(good_toml)
        project.git("commit", "-qam", "the nginx template restored")
    es(project, "flip", "b")  # the good site back (one reload), and b live
    serves(rig, "b", lb_state(rig)["version_b"])


def test_a_colour_answering_another_version_is_not_flipped_to(rig, project, deployed):
    """web1's a runs another version than the one recorded for a (a half-failed deploy):
    the flip is refused, naming what answered."""
    given_live(rig, project, "b")
    recorded = lb_state(rig)["version_a"]
    other = lb_state(rig)["version_b"]
    assert recorded != other
    es(project, "deploy", other, "--color", "a", "--hosts", "web1")
    try:
        es(project, "lock", "break")
        state = state_dir(rig) / "state"
        text = state.read_text()
        state.write_text(text.replace(f"version_a={other}", f"version_a={recorded}"))
        p = es(project, "flip", "a", code=1)
        assert f"from version {other}, expected {recorded}" in p.stdout + p.stderr
        assert marker(rig) == "colors/b"
    finally:
        es(project, "deploy", recorded, "--color", "a")


# --- the lock ----------------------------------------------------------------------------

def test_a_held_lock_refuses_every_command_naming_its_holder(rig, project, deployed, timings):
    given_live(rig, project, "b")
    info = "othertoken\tsomeone@elsewhere\t2026-01-01T00:00:00Z\tdeploy\tnightly batch\n"
    rig.sh("lb", f"mkdir -p ~/{STATE}/lock && cat > ~/{STATE}/lock/info", input=info)
    before = (marker(rig), lb_state(rig), site(rig))
    for args in [("flip", "a"), ("rollback",), ("deploy", deployed[0]), ("release",)]:
        mark(rig)
        t = time.monotonic()
        p = es(project, *args, code=3)
        timings[f"refused by the lock: {args[0]}"] = round(time.monotonic() - t, 2)
        assert "locked by someone@elsewhere since 2026-01-01T00:00:00Z: deploy (nightly batch)" \
            in p.stderr, p.stderr
        assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 1}, args
    assert (marker(rig), lb_state(rig), site(rig)) == before

    p = es(project, "lock", "status")
    assert "someone@elsewhere" in p.stdout and "nightly batch" in p.stdout
    assert "locked on 1 of 1" in p.stderr
    p = es(project, "lock", "release", code=1)
    assert "not you" in p.stderr and locked(rig)
    p = es(project, "lock", "break", "--message", "it was stale")
    assert "broke the lock of someone@elsewhere" in p.stderr
    assert not locked(rig)
    assert history(rig)[-1][2:] == ["lock break", "-", "-", "broken",
                                    "held by someone@elsewhere deploy", "it was stale", "-"]
    assert "the lock is free" in es(project, "lock", "status").stderr
    # our own lock, left by a killed run: `es lock release` removes it
    rig.sh("lb", f"mkdir -p ~/{STATE}/lock && cat > ~/{STATE}/lock/info",
           input=info.replace("someone@elsewhere", holder(project)))
    es(project, "lock", "release")
    assert not locked(rig)


def holder(project) -> str:
    """user@host as essay records the person running it."""
    p = subprocess.run([sys.executable, "-c", "from essay.state import Operation; "
                        "print(Operation('x').user)"], capture_output=True, text=True,
                       env=project.env(), check=True)
    return p.stdout.strip()


def test_ctrl_c_releases_the_lock(rig, project, deployed):
    """Ctrl-C in a multi-round-trip command (release, during its build) and in a one
    round trip flip (during its health check): the lock is released either way."""
    given_live(rig, project, "b")
    runs = len(history(rig))
    p = es_bg(project, "release", "--message", "interrupted")
    said = ""
    while "==> build and publish" not in said:     # the lock is held: it builds now
        line = p.stderr.readline()
        assert line, f"es release ended before its build:\n{said}"
        said += line
    assert locked(rig)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    err = said + err
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not locked(rig)
    assert history(rig)[-1][2] == "release" and history(rig)[-1][5] == "failed"

    supervisorctl(rig, "web1", "a", "stop", "all")
    try:
        p = es_bg(project, "flip", "a")
        wait_until(lambda: locked(rig), 30, what="the flip's lock")
        time.sleep(0.5)                                  # in its health check now
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 130
        # an outcome, saying what is known (the lbs finish by themselves), no traceback
        assert "what they serve now is unknown: run `es status`" in err, err
        assert "Traceback" not in err and "Exception ignored" not in err, err
        # the lb script runs to its end by itself (the flip is refused) and unlocks
        wait_until(lambda: not locked(rig), 15, what="the lock released")
    finally:
        restart_color(rig, "a", ["web1"])
    assert history(rig)[-1][2:6] == ["flip", "b", "a", "failed"]
    assert marker(rig) == "colors/b"
    assert len(history(rig)) == runs + 2


def test_ctrl_c_while_the_site_is_applied_says_what_the_lbs_serve(rig, project, deployed):
    """Ctrl-C during the apply a flip runs first (its `[nginx] test` waits for the test's
    go): the last line says what the lbs serve, no traceback; the lb finishes the step by
    itself, puts back the site nginx never loaded and releases the lock."""
    given_live(rig, project, "b")
    home = Path(rig.home_of("lb"))
    started, go = home / "nginx-test-started", home / "nginx-test-go"
    for f in (started, go):
        f.unlink(missing_ok=True)
    waits = (f"touch ~/{started.name}; for _ in $(seq 600); do [ -e ~/{go.name} ] && break; "
             f"sleep 0.1; done; {rig.nginx_test}")
    before, workers, runs = site(rig), nginx_workers(rig), len(history(rig))
    try:
        with nginx_changed(project, test=waits):
            p = es_bg(project, "flip", "a")
            wait_until(started.exists, 60, what="the apply's nginx test")
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=60)
            go.touch()
            assert p.returncode == 130, err
            assert "Traceback" not in err and "Exception ignored" not in err, err
            assert err.strip().split("\n")[-1].endswith(
                "no lb flipped: the lbs serve colour b, as before"), err
            wait_until(lambda: not locked(rig), 60, what="the lock released")
    finally:
        go.touch()
        wait_until(lambda: not locked(rig), 60, what="the lock released")
        for f in (started, go):
            f.unlink(missing_ok=True)
    assert (site(rig), nginx_workers(rig), marker(rig)) == (before, workers, "colors/b")
    assert history(rig)[-1][2:7] == ["nginx apply", "-", "-", "failed", "interrupted before the "
                                     "reload: previous site config put back, nginx unchanged"]
    assert len(history(rig)) == runs + 1
    es(project, "status")                                  # works, exit 0: nothing held
    serves(rig, "b", lb_state(rig)["version_b"])


# --- zero failed requests under load ---------------------------------------------------------

def test_zero_failed_requests_while_deploying_and_flipping(rig, project, deployed, timings):
    """wrk keeps 16 keep-alive connections busy through the lb's nginx while a new version
    is deployed into the idle colour, flipped to, rolled back from and flipped to again."""
    if not marker(rig):                                   # run alone: a colour live first
        es(project, "flip", "b")
    idle = "a" if marker(rig) == "colors/b" else "b"
    live = "b" if idle == "a" else "a"
    v3 = timed(timings, "build v3", project.build)
    url = f"http://{rig.address('lb')}:8080/"
    wrk = subprocess.Popen(["wrk", "-t2", "-c16", "-d120s", "--latency", url],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2)
        t = time.monotonic()
        es(project, "deploy", v3)                         # into the idle colour
        assert lb_state(rig)[f"version_{idle}"] == v3
        assert {c for _, c, _ in through_lb(rig, 5)} == {live}
        for args in (("flip", idle), ("rollback",), ("flip", idle)):
            p = es(project, *args)
            assert "reloaded" not in p.stderr
            time.sleep(1)
        timings["deploy + flip + rollback + flip under load"] = round(time.monotonic() - t, 2)
        time.sleep(1)
    finally:
        wrk.send_signal(signal.SIGINT)                    # wrk prints its summary and stops
        text, _ = wrk.communicate(timeout=30)
    print(text)
    result = parse_wrk(text)
    timings["wrk requests"] = result["requests"]
    assert result["requests"] > 500, text
    assert result["non2xx"] == 0 and result["socket_errors"] == 0, text
    serves(rig, idle, v3)
    # leaves a (v3) live, b (v2) previous


# --- fab rollback, rollback --to -------------------------------------------------------------

def test_fab_rollback_serves_the_previous_version(rig, project, deployed):
    given_live(rig, project, "a", "b")
    mark(rig)
    fab = str(Path(sys.executable).parent / "fab")   # this essay's fab, not another on PATH
    p = subprocess.run([fab, "rollback"], cwd=project.path, env=project.env(),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert round_trips(rig) == {"web1": 0, "web2": 0, "lb": 1}
    serves(rig, "b", lb_state(rig)["version_b"])
    assert lb_state(rig)["live"] == "b" and lb_state(rig)["previous"] == "a"
    # leaves b (v2) live, a (v3) previous


def test_rollback_to_an_older_version_deploys_it_into_the_idle_colour(rig, project, deployed,
                                                                     timings):
    v1, v2 = deployed
    given_live(rig, project, "b")
    p = timed(timings, "rollback --to v1", es, project, "rollback", "--to", v1)
    assert f"rolled back to {v1}" in p.stderr
    serves(rig, "a", v1)
    st = lb_state(rig)
    assert (st["live"], st["previous"], st["version_a"]) == ("a", "b", v1)
    assert [row[2:6] for row in history(rig)[-2:]] == [["deploy", "-", "a", "ok"],
                                                       ["rollback", "b", "a", "ok"]]
    p = es(project, "rollback", "--to", "1999.1.1.1", code=1)
    assert "not on the index" in p.stderr
    # leaves a (v1) live, b (v2) previous


# --- es release --------------------------------------------------------------------------------

def test_release_builds_deploys_flips_and_watches(rig, project, deployed, timings):
    given_live(rig, project, "a")
    p = timed(timings, "release", es, project, "release", "--message", "release one")
    version = p.stdout.strip().splitlines()[-1]
    for stage in ("==> lock", "==> build and publish", f"==> deploy {version}", "==> flip to b",
                  f"==> watch b for {GRACE}s"):
        assert stage in p.stderr, p.stderr
    assert f"released demo {version}: colour b is live" in p.stderr
    serves(rig, "b", version)
    assert not locked(rig)
    rows = [row[2:8] for row in history(rig)[-3:]]
    assert rows == [["deploy", "-", "b", "ok", version, "release one"],
                    ["flip", "a", "b", "ok", version, "release one"],
                    ["release", "a", "b", "ok", version, "release one"]]
    # leaves b (this version) live, a (v1) previous


def test_release_canary_rolls_back_by_itself_when_the_new_colour_fails(rig, project, deployed,
                                                                      timings):
    """A 50% canary release; as soon as the marker switches, the new colour's processes
    on web1 are stopped: the watch sees it and essay flips back by itself, exit 1."""
    given_live(rig, project, "b")
    base_version = lb_state(rig)["version_b"]
    project.write_config(extra="\n[release]\ngrace = 8\n")
    stop = threading.Event()

    def kill_new_colour():
        while not stop.is_set():
            if marker(rig).startswith("colors/canary-a-50-"):
                supervisorctl(rig, "web1", "a", "stop", "all")
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_new_colour)
    killer.start()
    try:
        p = timed(timings, "release that rolls back", es, project, "release", "--weight", "50",
                  code=1)
    finally:
        stop.set()
        killer.join()
        project.write_config(extra=f"\n[release]\ngrace = {GRACE}\n")
        restart_color(rig, "a", ["web1"])
    assert "==> flip to a at 50%" in p.stderr and "==> flip back to b" in p.stderr
    assert "turned unhealthy after the flip and was rolled back" in p.stderr
    assert marker(rig) == "colors/b"
    serves(rig, "b", base_version)
    assert not locked(rig)
    assert history(rig)[-1][2:6] == ["release", "b", "a", "rolled back"]
    assert lb_state(rig)["canary"] == ""


# --- es history --------------------------------------------------------------------------------

def test_history_shows_every_step(rig, project, deployed):
    """After the tests above: every deploy, flip, rollback, release and lock break, as
    recorded on the lb, and the same through ``es history``."""
    p = es(project, "history", "--lines", "500")
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["time", "who", "command", "from", "to", "outcome", "detail",
                                "message", "env"]
    rows = history(rig)
    assert len(lines) == len(rows) + 2                   # header, rule, one line per entry
    seen = {(r[2], r[5]) for r in rows}
    for want in [("deploy", "ok"), ("flip", "ok"), ("flip", "failed"), ("rollback", "ok"),
                 ("rollback", "failed"), ("release", "ok"), ("release", "failed"),
                 ("release", "rolled back"), ("lock break", "broken")]:
        assert want in seen, want
    assert {r[1] for r in rows} == {holder(project)}     # who ran it (user@host)
    assert {r[8] for r in rows if len(r) > 8} == {"-"}   # no [env.*]: no environment
    assert "release one" in p.stdout and "it was stale" in p.stdout
    tail = es(project, "history", "--lines", "2").stdout.splitlines()
    assert len(tail) == 4 and [t.split() for t in tail[2:]] == [t.split() for t in lines[-2:]]
