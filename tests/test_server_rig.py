"""``es server`` on the rig, for a project with an environment (staging) whose index URL
holds a password and which has an ``es secrets`` value set: a signed GitHub push runs the
project's tests in a clean export, builds, publishes, deploys into staging's idle colour
and flips -- the lb serves the new version; with ``[server] flip = false`` (after a
restart, which keeps every job's log) it deploys and leaves the lb alone; a wrong
signature, a replay, another branch or a failing test change nothing. Then the same
server's pages in headless Chromium: a deploy (the lock holder shown while it runs), a
10% canary, a flip and a rollback as jobs, each checked against what the lb serves; the
environments page against what the lb and the hosts have; a stale lock broken by an
admin; a release from a git ref; and no secret on any page, in any job log or in the
server's own output.

The tests share one server (fixture ``srv``) and the first push (fixture ``pushed``):
each test asks for what it needs, so each runs alone as well as in file order."""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from server_browser import (WAIT, chrome, find, gone, live_on_page, ui_action,  # noqa: F401
                            ui_login)
from server_util import Browser, Server, add_user, wait_job
from test_flip import reset_lb, stop_colors, through_lb, wait_until

from essay.server import webhooks

pytestmark = [pytest.mark.rig, pytest.mark.slow]
SECRET = b"push-secret"
ENV = "staging"
STATE = f"nginx/conf.d/demo.essay/{ENV}"      # staging's state on the lb (lb user's home)
PORTS = {"a": (8800, 8801), "b": (8810, 8811)}
WEB = ("web1", "web2")
INDEX_PASSWORD = "idx-Pw-" + os.urandom(6).hex()
APP_SECRET = "app-Secret-" + os.urandom(6).hex()
# a pre_deploy hook that waits while ~/hold exists (at most 60 s): a deploy job holds the
# lb lock for as long as a test needs to look at it
GATE = 'for i in $(seq 600); do [ -e "$HOME/hold" ] || break; sleep 0.1; done'


def served(rig, n=6) -> set:
    return set(through_lb(rig, n))


def on_index(project) -> list[str]:
    return project.es("versions", check=True).stdout.split()


def lb_file(rig, name) -> str:
    f = Path(rig.home_of("lb")) / STATE / name
    return f.read_text() if f.exists() else ""


def lb_history(rig) -> list[list[str]]:
    return [line.split("\t") for line in lb_file(rig, "history").split("\n") if line]


def lb_state(rig) -> dict:
    return dict(line.split("=", 1) for line in lb_file(rig, "state").split("\n") if "=" in line)


def config(project, branch, flip, test=True):
    """essay.toml with staging (the gate as its pre_deploy hook), a password in the index
    URL and the [server] table (``test``: the project's tests as its test command);
    committed."""
    index_url = project.index_url.replace("://", f"://reader:{INDEX_PASSWORD}@", 1)
    project.write_config(index_url=index_url, extra=(
        f'\n[env.{ENV}.deploy]\npre_deploy = [{json.dumps(GATE)}]\n'
        f'\n[server]\nbranch = "{branch}"\nenvironment = "{ENV}"\n'
        + (f'test = "{sys.executable} -m pytest -q"\n' if test else "")
        + f'flip = {str(flip).lower()}\n'
        '\n[release]\ngrace = 2\n'))


@pytest.fixture(scope="module")
def srv(rig, project):
    branch = project.git("branch", "--show-current").strip()
    config(project, branch, flip=True)
    reset_lb(rig)
    env = project.env(ESSAY_WEBHOOK_SECRET=SECRET.decode())
    p = subprocess.run(project.es_argv("-e", ENV, "secrets", "set", "APP_SECRET"),
                       cwd=project.path, env=env, input=APP_SECRET, text=True,
                       capture_output=True, timeout=120)
    assert p.returncode == 0 and APP_SECRET not in p.stdout + p.stderr, p.stderr
    add_user(project.path, env, "ada", "admin")
    add_user(project.path, env, "vic", "viewer")
    server = Server(project.path, env)
    b = Browser(server.url)
    b.login("ada", "correct horse")
    yield server, b, branch
    assert server.stop() == 0
    for h in WEB:
        rig.sh(h, "rm -f ~/hold ~/demo/secrets.env", check=False)
    reset_lb(rig)
    stop_colors(rig)
    project.write_config()


def push(b, branch, after, delivery, secret=SECRET, provider="github"):
    body = json.dumps({"ref": f"refs/heads/{branch}", "after": after}).encode()
    head = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "Content-Type": "application/json", **webhooks.sign(provider, secret, body)}
    return b.request(f"/hooks/{provider}", body, head)


def job_ids(b, query="") -> list[int]:
    return [int(x) for x in re.findall(r'href="/jobs/(\d+)"', b.get("/jobs" + query)[1])]


def job_log(b, job) -> str:
    return "\n".join(x["text"] for x in json.loads(b.get(f"/jobs/{job}/lines")[1])["lines"])


def git(*args, cwd):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def pushed(rig, project, srv, tmp_path_factory):
    """The first push (flip on): a commit that is on origin only, so the pipeline fetches
    it. {job, sha, version, data, log}; staging serves ``version`` afterwards."""
    server, b, branch = srv
    tmp = tmp_path_factory.mktemp("push")
    origin, clone = tmp / "origin.git", tmp / "clone"
    git("clone", "-q", "--bare", str(project.path), str(origin), cwd=tmp)
    git("clone", "-q", str(origin), str(clone), cwd=tmp)
    (clone / "CHANGES.txt").write_text("pushed\n")
    git("add", "CHANGES.txt", cwd=clone)
    git("commit", "-qm", "a pushed change", cwd=clone)
    git("push", "-q", "origin", branch, cwd=clone)
    sha = git("rev-parse", "HEAD", cwd=clone)
    project.git("remote", "add", "origin", str(origin))
    try:
        status, out, _ = push(b, branch, sha, "push-1")
        assert status == 202, out
        job = json.loads(out)["job"]
        data = wait_job(b, job, 600)
    finally:
        project.git("remote", "remove", "origin")
    return {"job": job, "sha": sha, "version": on_index(project)[-1], "data": data,
            "log": job_log(b, job)}


def test_a_signed_push_tests_builds_deploys_and_flips(rig, srv, pushed):
    server, b, _ = srv
    log, version, job = pushed["log"], pushed["version"], pushed["job"]
    assert pushed["data"]["state"] == "done", log
    assert f"git fetch origin {pushed['sha']}" in log
    assert "passed" in log and "test:" in log                 # the project's own tests ran
    assert f"built and published demo {version}" in log
    got = served(rig)
    assert {v for _, _, v in got} == {version} and {s for s, _, _ in got} == {200}, got
    # who started it: the delivery, on the job's page and in staging's history on the lb
    assert "started by webhook:github:push-1" in b.get(f"/jobs/{job}")[1]
    who = f"webhook:github:push-1 via essay server (job {job})"
    assert {"deploy", "flip"} <= {r[2] for r in lb_history(rig) if r[1] == who}
    assert lb_history(rig)[-1][8] == ENV


def test_bad_pushes_change_nothing(rig, project, srv, pushed):
    server, b, branch = srv
    before, live, n = on_index(project), served(rig), len(job_ids(b))
    sha = project.git("rev-parse", "HEAD").strip()
    assert push(b, branch, sha, "bad-1", secret=b"wrong")[0] == 403
    assert push(b, "elsewhere", sha, "bad-2")[0] == 200                 # another branch
    status, out, _ = push(b, branch, sha, "bad-2")                      # replayed
    assert status == 200 and "seen before" in out, out
    # a commit whose tests fail: the job fails, nothing is built or deployed
    (project.path / "tests" / "test_broken.py").write_text("def test_broken():\n"
                                                           "    assert False\n")
    project.git("add", "tests/test_broken.py")
    project.git("commit", "-qm", "a failing test")
    try:
        status, out, _ = push(b, branch, project.git("rev-parse", "HEAD").strip(), "bad-3")
        assert status == 202
        failed = json.loads(out)["job"]
        data = wait_job(b, failed, 300)
        assert data["state"] == "failed" and "tests failed" in data["outcome"], data
    finally:
        project.git("revert", "--no-edit", "HEAD")
    assert on_index(project) == before and served(rig) == live
    assert len(job_ids(b)) == n + 1
    # the jobs page's state filter: each state's rows, and only those
    assert failed in job_ids(b, "?state=failed") and pushed["job"] not in job_ids(
        b, "?state=failed")
    assert pushed["job"] in job_ids(b, "?state=done") and failed not in job_ids(
        b, "?state=done")
    assert job_ids(b, "?state=running") == [] and job_ids(b, "?state=lost") == []


def test_with_flip_off_a_push_fills_the_idle_colour_only(rig, project, srv, pushed):
    server, b, branch = srv
    lines = b.get(f"/jobs/{pushed['job']}/lines")[1]
    config(project, branch, flip=False, test=False)   # the first push ran the tests
    assert server.restart() == 0                       # SIGTERM: a clean exit
    # the restarted server: the same user logs in; the first push's log is all there
    b2 = Browser(server.url)
    assert b2.login("ada", "correct horse")[0] == 302
    assert json.loads(b2.get(f"/jobs/{pushed['job']}/lines")[1]) == json.loads(lines)
    before = served(rig)
    ((_, live, old),) = before
    idle = "b" if live == "a" else "a"
    status, out, _ = push(b2, branch, project.git("rev-parse", "HEAD").strip(), "noflip-1")
    assert status == 202, out
    job = json.loads(out)["job"]
    data = wait_job(b2, job, 600)
    version = on_index(project)[-1]
    assert data["state"] == "done" and "flip is off: not flipped" in data["outcome"], data
    assert version != old and f"{version} is in colour {idle}" in data["outcome"], data
    for h in WEB:                                      # staging's idle colour runs it
        for port in PORTS[idle]:
            status, body = rig.http_get(h, port, "/")
            assert status == 200 and f"version {version}</p>" in body, (h, port, body[:300])
    assert served(rig, 20) == before                   # the lb still serves the old one
    state = lb_state(rig)
    assert state[f"version_{idle}"] == version and state[f"version_{live}"] == old, state
    last = lb_history(rig)[-1]
    assert last[1:3] == [f"webhook:github:noflip-1 via essay server (job {job})", "deploy"]


# --- a real browser: headless Chromium (Debian) driven by Selenium (server_browser.py) ---

def test_browser_deploy_watch_canary_flip_rollback(rig, project, srv, pushed, chrome):
    server, b, _ = srv
    ((_, live, v1),) = served(rig)                 # live since the push
    v2 = project.build()
    ui_login(chrome, server.url, "ada")
    # ESSAY_SCREENSHOTS=1 refreshes docs/img; otherwise they go to a temporary directory
    docs = (Path(__file__).resolve().parent.parent / "docs" / "img"
            if os.environ.get("ESSAY_SCREENSHOTS") == "1" else Path(tempfile.mkdtemp()))
    chrome.save_screenshot(str(docs / "server-environments.png"))
    assert live_on_page(chrome, server.url, ENV) == live
    idle = "b" if live == "a" else "a"

    def while_locked(job):
        """The deploy holds the lock (its hook waits on web1): the environments page names
        the job as the holder; then the hook may go on."""
        holder = f"lb: locked by user:ada via essay server (job {job})"
        try:
            wait_until(lambda: holder in b.get("/")[1], 120, 0.5, "the lock holder on the page")
            assert lb_file(rig, "lock/info").split("\t")[1] == holder.split("by ", 1)[1]
        finally:
            rig.sh("web1", "rm -f ~/hold")

    rig.sh("web1", "touch ~/hold")
    summary, seen, log = ui_action(chrome, server.url, ENV, "deploy", during=while_locked,
                                   version=v2)
    assert f"{v2} into colour {idle}" in summary and f"live colour {live}" in summary
    assert seen[-1][0] == "done", log
    assert len({n for _, n in seen}) > 2, seen    # the log grew while the page watched it
    assert "web1" in log and "web2" in log
    chrome.save_screenshot(str(docs / "server-job.png"))
    assert served(rig) == {(200, live, v1)}       # not flipped yet

    summary, seen, log = ui_action(chrome, server.url, ENV, "flip", color=idle, weight="10")
    assert f"send 10% of the requests on lb in environment {ENV} to colour {idle} ({v2})" \
        in summary and seen[-1][0] == "done", (summary, log)
    chrome.get(server.url + "/")
    assert find(chrome, f"#canary-{ENV}").text == f"canary: {idle} at 10%"
    assert find(chrome, f"#live-{ENV}").text == live
    assert served(rig, 100) == {(200, live, v1), (200, idle, v2)}   # both, through the lb

    summary, seen, log = ui_action(chrome, server.url, ENV, "flip", color=idle)
    assert f"send all requests on lb in environment {ENV} to colour {idle} ({v2})" in summary
    assert seen[-1][0] == "done", log
    assert served(rig, 20) == {(200, idle, v2)}
    assert live_on_page(chrome, server.url, ENV) == idle

    summary, seen, log = ui_action(chrome, server.url, ENV, "rollback")
    assert f"back to colour {live} ({v1})" in summary and seen[-1][0] == "done", log
    assert served(rig, 20) == {(200, live, v1)}
    assert live_on_page(chrome, server.url, ENV) == live

    # the history filter keeps the rollback rows and leaves every other row out
    hist = b.get(f"/history?env={ENV}&q=rollback")[1]
    rows = re.findall(r"<tr>(<td>.*?)</tr>", hist, re.S)
    want = [r for r in lb_history(rig) if any("rollback" in c.lower() for c in r)]
    assert len(rows) == len(want) >= 1 and all("rollback" in r.lower() for r in rows), rows
    assert "user:ada via essay server (job" in hist
    assert any(r[2] == "flip" for r in lb_history(rig)) and "<td>flip</td>" not in hist


def test_browser_viewer_and_csrf(rig, srv, chrome):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, _, _ = srv
    ui_login(chrome, server.url, "vic")
    assert chrome.find_elements(By.CSS_SELECTOR, "a.action") == []
    token = find(chrome, "input[name=csrf_token]").get_attribute("value")
    status = chrome.execute_async_script(
        "var done = arguments[1]; fetch('/act/flip/run', {method: 'POST', headers: "
        "{'Content-Type': 'application/x-www-form-urlencoded'}, body: 'env=" + ENV +
        "&color=a&csrf_token=' + encodeURIComponent(arguments[0])}).then(r => done(r.status));",
        token)
    assert status == 403
    ui_login(chrome, server.url, "ada")
    chrome.get(server.url + f"/act/rollback?env={ENV}")
    review = find(chrome, "#review")
    chrome.execute_script("document.querySelector('main input[name=csrf_token]').remove()")
    review.click()
    # the answer is a new page: wait for the form's page to go before reading it
    WebDriverWait(chrome, WAIT).until(gone(review))
    WebDriverWait(chrome, WAIT).until(lambda d: d.execute_script(
        "return document.readyState") == "complete")
    assert "CSRF" in chrome.page_source and "summary" not in chrome.page_source


def test_environments_page_shows_what_the_lb_and_hosts_have(rig, srv, pushed, chrome):
    from selenium.webdriver.common.by import By

    server, _, _ = srv
    ui_login(chrome, server.url, "vic")
    state, history = lb_state(rig), lb_history(rig)
    live = find(chrome, f"#live-{ENV}").text
    assert (Path(rig.home_of("lb")) / STATE / "live").readlink() == Path(f"colors/{live}")
    for span in chrome.find_elements(By.CSS_SELECTOR, f"#env-{ENV} .version"):
        c = span.get_attribute("data-color")
        assert span.text == f"{c} = {state.get(f'version_{c}') or '—'}", (span.text, state)
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in chrome.find_elements(By.CSS_SELECTOR, f"#env-{ENV} table.status tr")]
    rows = [r for r in rows if r]
    assert sorted((r[0], r[1]) for r in rows) == sorted((h, c) for h in WEB for c in PORTS)
    for host, color, version, mark, _procs, _ports, health in rows:
        answers = []
        for port in PORTS[color]:                  # what the colour's processes answer
            try:
                answers.append(rig.http_get(host, port, "/"))
            except ConnectionError:
                answers.append((None, ""))
        ok = sum(1 for s, _ in answers if s == 200)
        assert health == f"{ok}/2 healthy", (host, color, health, answers)
        for s, body in answers:
            if s == 200:
                assert f"version {version}</p>" in body, (host, color, version, body[:200])
        assert (mark == "live") == (color == live), (host, color, mark)
    deploy = next(r for r in reversed(history) if r[2] == "deploy")
    flip = next(r for r in reversed(history) if r[2] in ("flip", "rollback"))
    assert find(chrome, f"#last-deploy-{ENV}").text == \
        f"Last deploy: {deploy[0]} by {deploy[1]}: {deploy[4]} ({deploy[5]}, {deploy[6]})"
    assert find(chrome, f"#last-flip-{ENV}").text == \
        f"Last flip: {flip[0]} by {flip[1]}: {flip[2]} {flip[3]} → {flip[4]} ({flip[5]})"


def test_an_admin_breaks_a_stale_lock(rig, srv, pushed, chrome):
    server, b, _ = srv
    # a lock as an es killed mid-deploy leaves it: token, who, when, command, message
    info = "dead-token\tbob@laptop\t2026-01-02T03:04:05Z\tdeploy\tkilled mid-deploy"
    rig.sh("lb", f"mkdir ~/{STATE}/lock && printf '%s\\n' '{info}' > ~/{STATE}/lock/info")
    ui_login(chrome, server.url, "ada")
    assert "lb: locked by bob@laptop 2026-01-02T03:04:05Z deploy killed mid-deploy" in \
        find(chrome, f"#env-{ENV} .lock").text
    summary, seen, log = ui_action(chrome, server.url, ENV, "lock-break")
    assert f"remove the lock on lb in environment {ENV} (held by lb: bob@laptop" in summary
    assert seen[-1][0] == "done", log
    assert "lb: broke the lock of bob@laptop (deploy since 2026-01-02T03:04:05Z)" in log, log
    assert lb_file(rig, "lock/info") == "" and not (Path(rig.home_of("lb")) / STATE /
                                                     "lock").exists()
    job = int(re.search(r"/jobs/(\d+)", chrome.current_url).group(1))
    last = lb_history(rig)[-1]
    assert last[1:3] == [f"user:ada via essay server (job {job})", "lock break"], last
    assert last[5:7] == ["broken", "held by bob@laptop deploy"], last
    chrome.get(server.url + "/")
    assert find(chrome, f"#env-{ENV} p.muted").text == "lock: free"


def test_a_release_from_a_git_ref(rig, project, srv, pushed):
    server, b, _ = srv
    (project.path / "CHANGES.txt").write_text("released\n")
    project.git("add", "CHANGES.txt")
    project.git("commit", "-qm", "a change to release")
    project.git("tag", "-f", "rel-1")
    status, html, head = b.post("/act/release/run", {"env": ENV, "ref": "rel-1"},
                                token_from="/")
    assert status == 302, html
    job = int(re.search(r"/jobs/(\d+)$", head["Location"]).group(1))
    data = wait_job(b, job, 600)
    version = on_index(project)[-1]
    assert data["state"] == "done", job_log(b, job)
    assert {v for _, _, v in served(rig, 20)} == {version} and version != pushed["version"]
    assert "build rel-1" in b.get(f"/jobs/{job}")[1]


def test_no_secret_on_any_page_in_any_job_log_or_the_server_output(project, srv, pushed):
    server, b, _ = srv
    creds = json.loads((project.path / ".essay" / "credentials.json").read_text())
    values = [INDEX_PASSWORD, APP_SECRET, creds["password"], SECRET.decode()]
    forms = set(values)
    for v in values:
        forms |= {base64.b64encode(v.encode()).decode(),
                  base64.b64encode(f"reader:{v}".encode()).decode(),
                  base64.b64encode(f"essay:{v}".encode()).decode()}
    paths = ["/", f"/history?env={ENV}", "/jobs", "/login"]
    paths += [f"/act/{k}?env={ENV}" for k in ("deploy", "flip", "rollback", "release",
                                               "lock-break")]
    for job in job_ids(b):
        paths += [f"/jobs/{job}", f"/jobs/{job}/lines"]
    texts = {p: b.get(p)[1] for p in paths}
    texts["the server's output"] = server.output()
    assert len(texts) > 10 and any("built and published" in t for t in texts.values())
    leaks = [(where, v) for where, t in texts.items() for v in forms if v in t]
    assert leaks == [], leaks
