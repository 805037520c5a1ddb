"""The job queue's scheduling, with real huey: the embedded SQLite queue inside a real
``es server``, and a real redis-server with two ``es server worker`` processes. No rig:
the jobs are cheap -- pushes whose test command (gate.py) waits for a gate file the test
opens, then fails (so nothing is built), and a rollback of an environment without hosts,
which fails at once.

* A job waiting for its environment's turn holds no worker thread: with more waiting
  staging jobs than threads, a production job still runs, and the staging jobs run one
  at a time, oldest first.
* A worker paused (SIGSTOP) for longer than ``stale_after`` keeps its job: the job is not
  marked lost while the worker's process lives, and the next job of its environment waits.
"""
import json
from contextlib import nullcontext
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from essay.server import webhooks
from server_util import Browser, Server, redis_server, worker

GATE = """import os, sys, time
end = time.monotonic() + 120
while not os.path.exists(sys.argv[1]) and time.monotonic() < end:
    time.sleep(0.05)
sys.exit(1)   # the tests "fail": the pipeline stops before building anything
"""


class Queue:
    """A project with environments staging and production and no hosts, its server, and
    (with Redis) two one-thread workers."""

    def __init__(self, path, env, redis):
        self.path, self.env, self.gate = path, env, path.parent / "gate"
        self.token = subprocess.run(
            [sys.executable, "-m", "essay", "server", "token", "add", "ci", "--role",
             "admin"], cwd=path, env=env, text=True, capture_output=True,
            check=True).stdout.strip()
        self.server = Server(path, env)
        self.workers = [worker(path, env, queue=redis), worker(path, env, queue=redis)] \
            if redis else []
        self.sha = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], text=True,
                                  capture_output=True, check=True).stdout.strip()
        self.pushes = 0

    def api(self, path, data=None):
        status, body, _ = Browser(self.server.url).request(
            path, json.dumps(data).encode() if data else None,
            {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        assert status in (200, 202), body
        return json.loads(body)

    def push(self) -> int:
        """A signed push to main: a pipeline job of staging."""
        self.pushes += 1
        body = json.dumps({"ref": "refs/heads/main", "after": self.sha}).encode()
        head = {"X-GitHub-Event": "push", "X-GitHub-Delivery": f"q-{self.pushes}",
                "Content-Type": "application/json",
                **webhooks.sign("github", b"hook-secret", body)}
        status, out, _ = Browser(self.server.url).request("/hooks/github", body, head)
        assert status == 202, out
        return json.loads(out)["job"]

    def job(self, job_id) -> dict:
        return self.api(f"/api/jobs/{job_id}")

    def wait(self, job_id, states=("done", "failed", "lost"), pred=None, timeout=90):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            j = self.job(job_id)
            if j["state"] in states and (pred is None or pred(j)):
                return j
            time.sleep(0.1)
        raise AssertionError(f"job {job_id}: {j}")

    def testing(self, job_id) -> dict:
        """Wait until the job runs its test command (gate.py, waiting for the gate)."""
        return self.wait(job_id, ("running",),
                         lambda j: any(x.startswith("test: ") for x in j["log"]))

    def stop(self):
        for w in self.workers:
            os.kill(w.pid, signal.SIGCONT)   # in case a test stopped it and failed
            w.send_signal(signal.SIGINT)
            w.wait(60)
        assert self.server.stop() == 0


@pytest.fixture(scope="module", params=["embedded", "redis"])
def queue(request, tmp_path_factory):
    from essay.create import create

    tmp_path = tmp_path_factory.mktemp(request.param)
    path = create("demo", output_dir=str(tmp_path), no_input=True)
    (path / "gate.py").write_text(GATE)
    git = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    env = dict(os.environ, NO_COLOR="1", ESSAY_WEBHOOK_SECRET="hook-secret", **git)
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "demo"]):
        subprocess.run(["git", "-C", str(path), *argv], env=env, check=True)
    with redis_server(tmp_path) if request.param == "redis" else nullcontext() as url:
        (path / "essay.toml").write_text(
            '[project]\nname = "demo"\n\n[roles]\nweb = []\nlb = []\n\n'
            '[env.staging.roles]\nweb = []\n[env.production.roles]\nweb = []\n\n'
            '[server]\nenvironment = "staging"\nworkers = 2\nstale_after = 1\n'
            f'test = "{sys.executable} gate.py {tmp_path / "gate"}"\n'
            + (f'queue = "{url}"\n' if url else ""))
        q = Queue(path, env, url)
        try:
            yield q
        finally:
            q.stop()


def test_a_waiting_job_holds_no_worker_thread(queue):
    queue.gate.unlink(missing_ok=True)
    staging = [queue.push() for _ in range(3)]    # more than the 2 threads there are
    queue.testing(staging[0])                     # the first holds staging's turn
    prod = queue.wait(queue.api("/api/jobs", {"kind": "rollback", "env": "production"})
                      ["job"])                    # ends (no lb: fails) meanwhile
    assert prod["state"] == "failed", prod
    assert [queue.job(j)["state"] for j in staging] == ["running", "queued", "queued"]
    queue.gate.touch()
    a, b, c = (queue.wait(j) for j in staging)
    for j in (a, b, c):
        assert j["state"] == "failed" and "tests failed" in j["outcome"], j
    assert prod["started"] < a["finished"]                              # in parallel
    assert a["finished"] <= b["started"] and b["finished"] <= c["started"]  # in order
    assert any(x.startswith("waiting for its turn") for x in b["log"] + c["log"]), b


def test_a_queued_job_can_be_cancelled_and_never_runs(queue):
    """Cancelled on its page by a deployer, or through the API: a queued job never runs;
    a running one is not cancelled (409); a viewer, or no token, cancels nothing."""
    from server_util import add_user

    for name, role in (("dee", "deployer"), ("vic", "viewer")):
        add_user(queue.path, queue.env, name, role)
    queue.gate.unlink(missing_ok=True)
    first, second, third, fourth = (queue.push() for _ in range(4))
    queue.testing(first)                          # the first holds staging's turn

    def cancel_api(job_id, token=queue.token):
        status, body, _ = Browser(queue.server.url).request(
            f"/api/jobs/{job_id}/cancel", b"{}",
            {"Authorization": f"Bearer {token}"} if token else {})
        return status, body

    vic, dee = Browser(queue.server.url), Browser(queue.server.url)
    vic.login("vic", "correct horse")
    dee.login("dee", "correct horse")
    assert 'id="cancel"' not in vic.get(f"/jobs/{third}")[1]   # no button for a viewer
    status, _, _ = vic.post(f"/jobs/{third}/cancel", {}, token_from=f"/jobs/{third}")
    assert status == 403                          # a viewer may not
    page = dee.get(f"/jobs/{second}")[1]
    assert 'id="cancel"' in page, page
    status, _, head = dee.post(f"/jobs/{second}/cancel", {}, token_from=f"/jobs/{second}")
    assert status == 302 and head["Location"].endswith(f"/jobs/{second}"), status
    assert "cancelled by user:dee" in dee.get(f"/jobs/{second}")[1]
    assert 'id="cancel"' not in dee.get(f"/jobs/{second}")[1]
    status, body = cancel_api(third)
    assert status == 200 and json.loads(body) == {"ok": f"job {third} cancelled"}, body
    status, body = cancel_api(first)              # running: not cancelled
    assert status == 409 and "only a queued job" in json.loads(body)["error"], body
    assert cancel_api(fourth, token=None)[0] == 401   # no token: nothing cancelled
    queue.gate.touch()
    a, d = queue.wait(first), queue.wait(fourth)
    b, c = (queue.wait(j, ("cancelled",)) for j in (second, third))
    assert a["state"] == "failed" and d["state"] == "failed", (a, d)
    assert b["outcome"] == "cancelled by user:dee" and b["started"] is None, b
    assert c["outcome"] == "cancelled by token:ci" and c["started"] is None, c
    for j, who in ((b, "user:dee"), (c, "token:ci")):
        assert not any(x.startswith(f"job {j['id']} on ") for x in j["log"]), j   # never ran
        assert any(f"cancelled by {who} before it ran" in x for x in j["log"]), j
    assert a["finished"] <= d["started"]          # the next waiting job's turn came


@pytest.mark.parametrize("queue", ["redis"], indirect=True)   # embedded: the worker is
def test_a_paused_worker_keeps_its_job(queue):                    # the server itself
    queue.gate.unlink(missing_ok=True)
    first = queue.push()
    pid = int(queue.testing(first)["worker"].split(":")[1])
    second = queue.push()
    os.kill(pid, signal.SIGSTOP)
    try:   # the server sees the silence and that the worker's process lives
        j = queue.wait(first, ("running", "lost", "failed", "done"), lambda j: j["state"] !=
                       "running" or any("its process lives" in x for x in j["log"]))
        assert j["state"] == "running", j
        assert queue.job(second)["state"] == "queued"
    finally:
        os.kill(pid, signal.SIGCONT)
    queue.gate.touch()
    a, b = queue.wait(first), queue.wait(second)
    assert a["state"] == "failed" and "tests failed" in a["outcome"], a   # not lost
    assert b["state"] == "failed" and a["finished"] <= b["started"], b


# --- the parts, on a real SQLite file ----------------------------------------------------

@pytest.fixture
def store(tmp_path):
    from essay.server.store import Store

    return Store(f"sqlite:///{tmp_path / 'server.db'}")


def test_claim_is_oldest_first_one_per_environment(store):
    from concurrent.futures import ThreadPoolExecutor

    a, b, p = (store.add_job("rollback", e, {}, "", "t").id
               for e in ("staging", "staging", "production"))
    assert not store.claim(b, "w:1")                  # a is older and waits
    with ThreadPoolExecutor(8) as pool:               # eight workers race for a and b
        won = list(pool.map(lambda i: store.claim((a, b)[i % 2], f"w:{i}"), range(8)))
    assert won.count(True) == 1 and store.job(a).state == "running"
    assert store.claim(p, "w:9") and store.next_queued("staging") == b
    store.finish(a, "done", "ok")
    assert store.claim(b, "w:1") and store.next_queued("staging") is None


def test_a_job_marked_lost_runs_nothing_more_on_the_hosts(store, tmp_path):
    from types import SimpleNamespace

    from essay.errors import EssayError
    from essay.remote.executor import Executor
    from essay.remote.script import Script, Step
    from essay.server.jobs import JobReporter, LogStream, why_lost

    job = store.add_job("deploy", "staging", {}, "", "t")
    worker = "another-machine:4242"
    assert store.claim(job.id, worker)
    reporter = JobReporter(LogStream(store, job.id), store, job.id, worker)
    reporter.check()                                   # its own: it may go on
    settings = SimpleNamespace(stale_after=1.0)
    silent, = store.silent(-1)                         # as the sweeper reads it
    assert why_lost(settings, silent, silent.heartbeat + 3)[0] is None   # not yet
    why = why_lost(settings, silent, silent.heartbeat + 5)[0]
    assert "another machine" in why and store.lose(silent, why)
    assert not store.lose(silent, why) and store.job(job.id).state == "lost"
    marker = tmp_path / "ran"
    with pytest.raises(EssayError, match="no longer another-machine:4242's"):
        with Executor(reporter) as ex:
            ex.run({"local": Script("t", (Step("touch", f"touch {marker}"),))})
    assert not marker.exists() and not store.beat(job.id, worker)


def test_a_worker_is_alive_while_its_process_is():
    from essay.server.queue import alive, worker_id

    me = worker_id()
    host, pid, ticks = me.rsplit(":", 2)
    assert (host, pid) == (socket.gethostname(), str(os.getpid())) and ticks.isdigit()
    assert alive(me, time.time()) is True
    # the same process whatever the wall clock says: a VM paused and resumed moves the boot
    # time /proc/stat reports, and a job's start time can then seem to precede the worker's
    assert alive(me, 0) is True
    assert alive(f"{host}:{pid}:{int(ticks) + 1}", time.time()) is False   # a reused pid
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert alive(f"{host}:{gone.pid}:{ticks}", time.time()) is False
    assert alive("another-machine:1:5", time.time()) is None
    assert alive("another-machine:1", time.time()) is None
    assert alive("12345:1", time.time()) is None     # an all-digit host name, old-style id
    # an id without ticks (an older essay's): the start time against the job's
    assert alive(f"{host}:{pid}", time.time()) is True
    assert alive(f"{host}:{pid}", 0) is False
    assert alive(f"{host}:{gone.pid}", time.time()) is False


def test_job_logs_mask_secrets_and_short_ones_only_as_whole_words(store):
    from essay.server.jobs import LogStream

    job = store.add_job("rollback", "", {}, "", "t")
    stream = LogStream(store, job.id, ["s3cret-long-password", "pw1", ""])
    stream.write("index https://u:s3cret-long-password@host/ and u:pw1@idx\n")
    stream.write("pw1x, spw1 and pw12 are other words; pw1 alone is not\npartial")
    stream.secrets = ["ab", "s3cret-long-password"]   # a job's own secrets, once known
    stream.write(" line: tab, ab, xs3cret-long-passwordx\n")
    assert [x.text for x in store.lines(job.id)] == [
        "index https://u:***@host/ and u:***@idx",
        "pw1x, spw1 and pw12 are other words; *** alone is not",
        "partial line: tab, ***, x***x"]
