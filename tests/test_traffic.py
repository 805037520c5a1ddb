"""Issue 9: no failed request, whatever the timing -- on a rig of 2 web hosts and 2 lbs.

Load through both lbs (keep-alive GETs, keep-alive POSTs with a body, 3 s requests) for
at least 2 minutes while at least 20 flips and rollbacks run with gaps of 0.5 to 3 s, a
canary, and a deploy into the colour that was live a moment ago while 3 s requests are in
flight on it. Zero non-2xx, zero socket errors (wrk's own counts) and nothing bad in
either nginx's error.log. (tests/traffic_mix.py; bench/soak.py runs the same for longer,
and with the old templates to show the failure.)
"""
import json

import pytest

from rig import extra_rig
from traffic_mix import GAPS, run_mix

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


def test_zero_failed_requests_through_two_lbs_whatever_the_timing(rig2, es2, project):
    v1, v2, v3 = project.build(), project.build(), project.build()
    es2("deploy", v1, "--color", "a")
    es2("deploy", v2, "--color", "b")
    es2("flip", "a")                                     # first flip: site file + reload
    result = run_mix(rig2, es2, (v1, v2, v3), min_seconds=120, n_pairs=10)
    print(result.summary())
    assert result.seconds >= 120
    flips = [args for args, _, _ in result.ops if args[0] in ("flip", "rollback")]
    assert len(flips) >= 20, result.ops
    assert set(GAPS) <= {gap for _, gap, _ in result.ops}
    assert any("--weight" in args for args, _, _ in result.ops)
    assert {lb for lb, _ in result.counts} == {"lb", "lb2"}
    for key, c in result.counts.items():
        assert c["requests"] > 0, (key, c["text"])
    totals = result.totals
    assert totals["non2xx"] == 0 and totals["socket_errors"] == 0, result.summary()
    assert result.log == {"lb": [], "lb2": []}, json.dumps(result.log, indent=1)

