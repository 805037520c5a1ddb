"""``es server`` on the rig: a signed GitHub push runs the project's tests in a clean
export, builds, publishes, deploys into the idle colour and flips -- and the lb serves the
new version; a wrong signature, a replay, another branch or a failing test change nothing.
Then the same server's pages: a deploy, a flip and a rollback as jobs, checked against
what the lb serves."""
import json
import sys

import pytest

from server_util import Browser, Server, add_user, wait_job
from test_flip import reset_lb, stop_colors, through_lb

from essay.server import webhooks

pytestmark = [pytest.mark.rig, pytest.mark.slow]
SECRET = b"push-secret"


def served(rig) -> set:
    return set(through_lb(rig, 6))


def on_index(project) -> list[str]:
    return project.es("versions", check=True).stdout.split()


@pytest.fixture(scope="module")
def srv(rig, project):
    branch = project.git("branch", "--show-current").strip()
    project.write_config(extra=f'\n[server]\nbranch = "{branch}"\n'
                               f'test = "{sys.executable} -m pytest -q"\nflip = true\n')
    reset_lb(rig)
    env = project.env(ESSAY_WEBHOOK_SECRET=SECRET.decode())
    add_user(project.path, env, "ada", "admin")
    add_user(project.path, env, "vic", "viewer")
    server = Server(project.path, env)
    b = Browser(server.url)
    b.login("ada", "correct horse")
    yield server, b, branch
    assert server.stop() == 0
    reset_lb(rig)
    stop_colors(rig)
    project.write_config()


def push(b, branch, after, delivery, secret=SECRET, provider="github"):
    body = json.dumps({"ref": f"refs/heads/{branch}", "after": after}).encode()
    head = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "Content-Type": "application/json", **webhooks.sign(provider, secret, body)}
    return b.request(f"/hooks/{provider}", body, head)


def jobs(b) -> int:
    return b.get("/jobs")[1].count('href="/jobs/')


def test_a_signed_push_tests_builds_deploys_and_flips(rig, project, srv):
    server, b, branch = srv
    sha = project.git("rev-parse", "HEAD").strip()
    status, out, _ = push(b, branch, sha, "push-1")
    assert status == 202, out
    data = wait_job(b, json.loads(out)["job"], 600)
    log = "\n".join(x["text"] for x in json.loads(b.get(
        f"/jobs/{json.loads(out)['job']}/lines")[1])["lines"])
    assert data["state"] == "done", log
    assert "passed" in log and "test:" in log                 # the project's own tests ran
    version = on_index(project)[-1]
    assert f"built and published demo {version}" in log
    got = served(rig)
    assert {v for _, _, v in got} == {version} and {s for s, _, _ in got} == {200}, got
    assert SECRET.decode() not in log


def test_bad_pushes_change_nothing(rig, project, srv):
    server, b, branch = srv
    before, live, n = on_index(project), served(rig), jobs(b)
    sha = project.git("rev-parse", "HEAD").strip()
    assert push(b, branch, sha, "push-2", secret=b"wrong")[0] == 403
    assert push(b, branch, sha, "push-1")[0] == 200                     # replayed
    assert push(b, "elsewhere", sha, "push-3")[0] == 200                # another branch
    # a commit whose tests fail: the job fails, nothing is built or deployed
    (project.path / "tests" / "test_broken.py").write_text("def test_broken():\n"
                                                           "    assert False\n")
    project.git("add", "tests/test_broken.py")
    project.git("commit", "-qm", "a failing test")
    try:
        status, out, _ = push(b, branch, project.git("rev-parse", "HEAD").strip(), "push-4")
        assert status == 202
        data = wait_job(b, json.loads(out)["job"], 300)
        assert data["state"] == "failed" and "tests failed" in data["outcome"], data
    finally:
        project.git("revert", "--no-edit", "HEAD")
    assert on_index(project) == before and served(rig) == live
    assert jobs(b) == n + 1
