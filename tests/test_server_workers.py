"""``es server`` with a real Redis queue (Debian's redis-server) and two ``es server
worker`` processes, on the rig, with two environments on disjoint web hosts: jobs of two
environments run in parallel, two of one environment in order; ``kill -9`` of a worker
mid-deploy shows the job lost with its log and its lock reported and released, and the
server and the other worker keep going."""
import json
import os
import signal
import time

import pytest

from server_util import Browser, Server, redis_server, worker
from test_flip import reset_lb, stop_colors

pytestmark = [pytest.mark.rig, pytest.mark.slow]

ENVS = """
[env.staging.roles]
web = ["web1"]
[env.staging.deploy]
prefix = "~/demo-staging"

[env.production.roles]
web = ["web2"]
"""


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module")
def setup(rig, project, redis):
    project.write_config(extra=f'\n[server]\nqueue = "{redis}"\nstale_after = 3\n' + ENVS)
    reset_lb(rig)
    env = project.env()
    token = project.es("server", "token", "add", "ci", "--role", "admin",
                       check=True).stdout.strip()
    server = Server(project.path, env)
    workers = [worker(project.path, env, queue=redis), worker(project.path, env, queue=redis)]
    version = project.build()
    yield server, token, workers, version
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGINT)
            w.wait(60)
    assert server.stop() == 0
    rig.sh("web1", "for d in ~/demo-staging/*/; do [ -x \"$d/bin/supervisorctl\" ] && "
                   "\"$d/bin/supervisorctl\" -c \"$d/etc/supervisord.conf\" shutdown; done; "
                   "rm -rf ~/demo-staging", check=False)
    reset_lb(rig)
    stop_colors(rig)
    project.write_config()


def api(server, token, path, data=None):
    b = Browser(server.url)
    status, body, _ = b.request(path, json.dumps(data).encode() if data else None,
                                {"Authorization": f"Bearer {token}",
                                 "Content-Type": "application/json"})
    assert status in (200, 202), body
    return json.loads(body)


def submit(setup, env, kind="deploy", **params):
    server, token, _, _ = setup
    return api(server, token, "/api/jobs", {"kind": kind, "env": env, **params})["job"]


def wait(setup, job, states=("done", "failed", "lost"), timeout=300, pred=None):
    server, token, _, _ = setup
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        j = api(server, token, f"/api/jobs/{job}")
        if j["state"] in states and (pred is None or pred(j)):
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job}: {j}")


def test_two_environments_in_parallel_one_environment_in_order(setup):
    v = setup[3]
    s1 = submit(setup, "staging", version=v)
    p1 = submit(setup, "production", version=v)
    s2 = submit(setup, "staging", kind="flip", color="a")
    jobs = {j: wait(setup, j) for j in (s1, p1, s2)}
    assert all(j["state"] == "done" for j in jobs.values()), jobs
    a, b, c = jobs[s1], jobs[p1], jobs[s2]
    assert a["started"] < b["finished"] and b["started"] < a["finished"]   # overlapped
    assert c["started"] >= a["finished"]                                   # waited its turn
    assert len({a["worker"], b["worker"]}) == 2     # one thread each: two processes


def test_promote_staging_to_production_as_a_job(setup):
    server, token, _, v = setup
    out = api(server, token, "/api/jobs", {"kind": "promote", "env": "production",
                                          "from": "staging"})
    assert f"{v} (live in staging)" in out["summary"], out
    j = wait(setup, out["job"])
    assert j["state"] == "done" and f"promoting demo {v} from staging to production" in \
        "\n".join(j["log"]), j
    status, body, _ = Browser(server.url).request(
        "/api/jobs", json.dumps({"kind": "promote", "env": "staging",
                                 "from": "staging"}).encode(),
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert status == 400 and "another environment" in body


def test_a_killed_worker_loses_its_job_the_rest_keeps_going(rig, setup):
    server, token, workers, v = setup
    job = submit(setup, "production", version=v)
    j = wait(setup, job, ("running",), 120, lambda j: "web2: install" in j["log"])
    pid = int(j["worker"].split(":")[1])
    victim = next(w for w in workers if w.pid == pid)
    os.kill(pid, signal.SIGKILL)
    victim.wait(10)
    lost = wait(setup, job, ("lost", "done", "failed"), 60,
                lambda j: j["state"] != "lost" or j["log"][-1].startswith(
                    ("lost: the lock", "lost: this job")))
    assert lost["state"] == "lost", lost
    log = "\n".join(lost["log"])
    assert "web2: install" in log and "stopped answering" in log
    assert f"lb: lock held by token:ci via essay server (job {job})" in log, log  # reported
    assert log.endswith("lost: the lock this job held is released"), log
    assert not rig.sh("lb", "ls -d ~/nginx/conf.d/demo.essay/production/lock",
                      check=False).stdout.strip()                       # and released
    assert Browser(server.url).get("/login")[0] == 200                  # the server serves
    again = wait(setup, submit(setup, "production", version=v))
    assert again["state"] == "done" and again["worker"] != j["worker"], again
