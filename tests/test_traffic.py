"""Issue 9: no failed request, whatever the timing -- on a rig of 2 web hosts and 2 lbs.

Load through both lbs (keep-alive GETs, keep-alive POSTs with a body, 3 s requests) for
at least 2 minutes while at least 20 flips and rollbacks run with gaps of 0.5 to 3 s, a
canary, and deploys into the colour that was live a moment ago while 3 s requests are in
flight on it (a reload: its old workers drain them), followed by gaps of 0.5, 1, 3 and
10 s before the flip to it. Zero non-2xx, zero socket errors (wrk's own counts) and nothing bad in
either nginx's error.log. (tests/traffic_mix.py; bench/soak.py runs the same for longer,
and with the old templates to show the failure.)
"""
import json
import subprocess
from pathlib import Path

import pytest

from rig import extra_rig
from traffic_mix import DEPLOY_GAPS, GAPS, run_mix

pytestmark = [pytest.mark.rig, pytest.mark.slow]


@pytest.fixture(scope="module")
def rig2(rig, project):
    """2 web hosts and 2 lbs beside the session rig; the session project points at it
    (its index stays where it is: the rig's hosts reach it through the root namespace)."""
    from conftest import start_rig

    tag, subnet = extra_rig(rig, 1)
    r = start_rig(n_web=2, n_lb=2, tag=tag, subnet=subnet)
    try:
        yield r
    finally:
        project.write_config()
        r.stop()


@pytest.fixture(scope="module")
def es2(rig2, project):
    """``es2(*args)``: the real es in the project, aimed at rig2; asserts success."""
    (project.path / "essay.toml").write_text(rig2.essay_toml(
        "demo", index_url=project.index_url,
        upload_url=f"http://{project.rig.index_address}:{project.port}/"))
    project.git("commit", "-qam", "essay.toml for rig2", "--allow-empty")

    def es(*args, code=0):
        env = project.env()
        env["HOME"] = rig2.home
        p = project.es(*args, env=env, timeout=300)
        assert code is None or p.returncode == code, \
            f"es {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
        return p
    return es


@pytest.fixture(scope="module")
def deployed2(rig2, es2, project):
    """v1 in a (live), v2 in b, on rig2."""
    v1, v2 = project.build(), project.build()
    es2("deploy", v1, "--color", "a")
    es2("deploy", v2, "--color", "b")
    es2("flip", "a")                                     # first flip: site file + reload
    return v1, v2


def test_zero_failed_requests_through_two_lbs_whatever_the_timing(rig2, es2, project,
                                                                 deployed2):
    v1, v2 = deployed2
    v3 = project.build()
    if not _marker(rig2, "lb").endswith("/a"):
        es2("flip", "a")
    result = run_mix(rig2, es2, (v1, v2, v3), min_seconds=120, n_pairs=10)
    print(result.summary())
    assert result.seconds >= 120
    flips = [args for args, _, _ in result.ops if args[0] in ("flip", "rollback")]
    assert len(flips) >= 20, result.ops
    assert set(GAPS) <= {gap for _, gap, _ in result.ops}
    # deploys into the colour live 0.2 s before (gunicorn reloads), each gap after one
    assert sorted(gap for args, gap, _ in result.ops if args[0] == "deploy") == DEPLOY_GAPS
    assert any("--weight" in args for args, _, _ in result.ops)
    assert {lb for lb, _ in result.counts} == {"lb", "lb2"}
    for key, c in result.counts.items():
        assert c["requests"] > 0, (key, c["text"])
    totals = result.totals
    assert totals["non2xx"] == 0 and totals["socket_errors"] == 0, result.summary()
    assert result.log == {"lb": [], "lb2": []}, json.dumps(result.log, indent=1)


FOREIGN = r"""
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"version": sys.argv[2], "foreign": True}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
"""


def test_a_deploy_whose_process_cannot_bind_fails_naming_the_port_and_its_holder(
        rig2, es2, project, deployed2):
    """Something else holds one of the idle colour's ports and even answers /health with
    the right version: the health check alone would pass; the deploy must not."""
    import shlex
    import time

    version = project.build()
    es2("supervisor", "stop", "--color", "b", "--hosts", "web1")   # supervisord stays up
    rig2.sh("web1", f"setsid nohup python3 -c {shlex.quote(FOREIGN)} 8810 {version} "
                    ">~/foreign.log 2>&1 </dev/null & echo $! > ~/foreign.pid")
    try:
        deadline = time.monotonic() + 60                 # python start-up on a busy rig
        while True:
            try:
                if "foreign" in rig2.http_get("web1", 8810, "/health")[1]:
                    break
            except ConnectionError:
                pass
            if time.monotonic() > deadline:
                log = rig2.sh("web1", "cat ~/foreign.log", check=False).stdout
                raise AssertionError(f"the foreign server on web1:8810 does not answer: {log}")
            time.sleep(0.2)
        p = es2("deploy", version, "--color", "b", code=1)
        out = p.stdout + p.stderr
        assert "port 8810: held by pid" in out, out
        assert "not by colour b's supervisord" in out, out
        assert "port 8811: served by colour b's processes" in out, out
        assert "live colour was not touched" in out
    finally:
        rig2.sh("web1", "kill $(cat ~/foreign.pid)", check=False)
    es2("deploy", version, "--color", "b")               # the port is free: it works


def test_deploying_into_the_canary_colour_is_refused(rig2, es2, deployed2):
    live = (rig2.sh("lb", "readlink ~/nginx/conf.d/demo.essay/live").stdout.strip()
            .rsplit("/", 1)[1])
    idle = "b" if live == "a" else "a"
    es2("flip", idle, "--weight", "10")
    try:
        p = es2("deploy", "latest", "--color", idle, code=2)
        assert f"colour {idle} takes canary traffic" in p.stderr and "--force" in p.stderr
        p = es2("deploy", "latest", code=2)             # no colour is free of users
        assert "is live" in p.stderr or "canary" in p.stderr, p.stderr
    finally:
        es2("rollback")


def _marker(rig, lb):
    return rig.sh(lb, "readlink ~/nginx/conf.d/demo.essay/live").stdout.strip()


def _site(rig, lb):
    return Path(rig.home_of(lb), "nginx/conf.d/demo.conf").read_bytes()


def _workers(rig, lb):
    return set(rig.sh(lb, "ps -o pid= --ppid \"$(cat ~/nginx/nginx.pid)\"").stdout.split())


def test_a_site_change_failing_nginx_t_on_lb2_leaves_lb1_unchanged(rig2, es2, project,
                                                                   deployed2):
    """The new site is tested on every lb before any marker moves: lb2's nginx -t fails,
    so lb1 keeps its site file, its nginx (no reload) and its colour."""
    before = {lb: (_marker(rig2, lb), _site(rig2, lb), _workers(rig2, lb)) for lb in rig2.lbs}
    target = "b" if before["lb"][0].endswith("/a") else "a"
    template = project.path / "conf" / "nginx.conf.j2"
    good = template.read_text()
    template.write_text(good + "\n# a change: the site file differs\n")
    project.git("commit", "-qam", "a site change")
    rig2.sh("lb2", "echo 'not_a_directive on;' > ~/nginx/conf.d/zz-broken.conf")
    try:
        p = es2("flip", target, code=1)
        assert "lb2: stage: " in p.stderr and "nginx config test failed" in p.stderr, p.stderr
        assert "lb: putting the previous site config back" in p.stderr
    finally:
        rig2.sh("lb2", "rm -f ~/nginx/conf.d/zz-broken.conf")
        template.write_text(good)
        project.git("commit", "-qam", "the site template restored")
    after = {lb: (_marker(rig2, lb), _site(rig2, lb), _workers(rig2, lb)) for lb in rig2.lbs}
    assert after == before
    assert not any(Path(rig2.home_of(lb), "nginx/conf.d/demo.essay/lock").exists()
                   for lb in rig2.lbs)
    p = es2("nginx", "apply")                             # nothing changed in the end
    assert "site config unchanged on every lb" in p.stderr


def test_one_lb_unreachable_mid_flip_puts_the_other_back(rig2, es2, deployed2):
    before = {lb: _marker(rig2, lb) for lb in rig2.lbs}
    target = "b" if before["lb"].endswith("/a") else "a"
    ns = rig2.netns("lb2")
    subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "down"], check=True)
    try:
        p = es2("flip", target, code=1)
        assert "lb2" in p.stderr, p.stderr
    finally:
        subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True)
        subprocess.run(["ip", "-n", ns, "route", "replace", "default", "via",
                        rig2.index_address], check=False)
    assert {lb: _marker(rig2, lb) for lb in rig2.lbs} == before
    # lbs that disagree (as a flip cut short by hand would leave them): status says so, 1
    other = "b" if before["lb2"].endswith("/a") else "a"
    rig2.sh("lb2", f"ln -sfn colors/{other} ~/nginx/conf.d/demo.essay/live")
    try:
        p = es2("status", code=1)
        assert "the lb hosts disagree on the live colour: lb=" in p.stderr, p.stderr
        assert "es: failed: live colour: unknown, the lb hosts disagree" in p.stderr, p.stderr
    finally:
        rig2.sh("lb2", f"ln -sfn {before['lb2']} ~/nginx/conf.d/demo.essay/live")
    es2("flip", target)                                   # both reachable: both flip
    assert {_marker(rig2, lb) for lb in rig2.lbs} == {f"colors/{target}"}
