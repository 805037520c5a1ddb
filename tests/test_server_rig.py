"""``es server`` on the rig: a signed GitHub push runs the project's tests in a clean
export, builds, publishes, deploys into the idle colour and flips -- and the lb serves the
new version; a wrong signature, a replay, another branch or a failing test change nothing.
Then the same server's pages: a deploy, a flip and a rollback as jobs, checked against
what the lb serves."""
import json
import os
import subprocess
import sys
import tempfile
import time

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


def git(*args, cwd):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_a_signed_push_tests_builds_deploys_and_flips(rig, project, srv, tmp_path):
    server, b, branch = srv
    # the pushed commit is on origin only: the pipeline fetches it
    origin, clone = tmp_path / "origin.git", tmp_path / "clone"
    git("clone", "-q", "--bare", str(project.path), str(origin), cwd=tmp_path)
    git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    (clone / "CHANGES.txt").write_text("pushed\n")
    git("add", "CHANGES.txt", cwd=clone)
    git("commit", "-qm", "a pushed change", cwd=clone)
    git("push", "-q", "origin", branch, cwd=clone)
    sha = git("rev-parse", "HEAD", cwd=clone)
    project.git("remote", "add", "origin", str(origin))
    try:
        status, out, _ = push(b, branch, sha, "push-1")
        assert status == 202, out
        data = wait_job(b, json.loads(out)["job"], 600)
    finally:
        project.git("remote", "remove", "origin")
    log = "\n".join(x["text"] for x in json.loads(b.get(
        f"/jobs/{json.loads(out)['job']}/lines")[1])["lines"])
    assert data["state"] == "done", log
    assert f"git fetch origin {sha}" in log
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


# --- a real browser: headless Chromium (Debian) driven by Selenium -----------------------------

@pytest.fixture(scope="module")
def chrome(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def ui_login(chrome, url, name):
    from selenium.webdriver.common.by import By

    chrome.delete_all_cookies()
    chrome.get(url + "/login")
    chrome.find_element(By.ID, "name").send_keys(name)
    chrome.find_element(By.ID, "password").send_keys("correct horse")
    chrome.find_element(By.ID, "login").click()
    chrome.find_element(By.CSS_SELECTOR, "section.env")   # the environments page


def ui_action(chrome, url, kind, **fields):
    """Open the action's form, fill it, review, check the confirmation, confirm; wait for
    the job to end while its log streams. Returns (summary, states seen, log text)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    chrome.get(url + "/")
    chrome.find_element(By.ID, f"act-{kind}-default").click()
    for name, value in fields.items():
        Select(chrome.find_element(By.ID, name)).select_by_visible_text(value)
    chrome.find_element(By.ID, "review").click()
    summary = chrome.find_element(By.ID, "summary").text
    chrome.find_element(By.ID, "confirm").click()
    WebDriverWait(chrome, 30).until(lambda d: "/jobs/" in d.current_url)
    seen, end = [], time.monotonic() + 600
    while time.monotonic() < end:   # the page updates itself: state and log lines
        state = chrome.execute_script("return document.getElementById('state').textContent")
        lines = chrome.execute_script("return document.getElementById('log').textContent"
                                      ".split('\\n').length")
        if not seen or seen[-1] != (state, lines):
            seen.append((state, lines))
        if state in ("done", "failed", "lost"):
            break
        time.sleep(0.05)
    return summary, seen, chrome.find_element(By.ID, "log").text


def live_on_page(chrome, url) -> str:
    from selenium.webdriver.common.by import By

    chrome.get(url + "/")
    return chrome.find_element(By.ID, "live-default").text


def test_browser_deploy_watch_flip_rollback(rig, project, srv, chrome):
    from pathlib import Path

    server, _, _ = srv
    (v1,) = {v for _, _, v in served(rig)}          # live since the push test
    v2 = project.build()
    ui_login(chrome, server.url, "ada")
    # ESSAY_SCREENSHOTS=1 refreshes docs/img; otherwise they go to a temporary directory
    docs = (Path(__file__).resolve().parent.parent / "docs" / "img"
            if os.environ.get("ESSAY_SCREENSHOTS") == "1" else Path(tempfile.mkdtemp()))
    chrome.save_screenshot(str(docs / "server-environments.png"))
    live = live_on_page(chrome, server.url)
    idle = "b" if live == "a" else "a"

    summary, seen, log = ui_action(chrome, server.url, "deploy", version=v2)
    assert f"{v2} into colour {idle}" in summary and f"live colour {live}" in summary
    assert seen[-1][0] == "done", log
    assert len({n for _, n in seen}) > 2, seen    # the log grew while the page watched it
    assert "web1" in log and "web2" in log
    chrome.save_screenshot(str(docs / "server-job.png"))
    assert {(s, c, v) for s, c, v in served(rig)} == {(200, live, v1)}   # not flipped yet

    summary, seen, log = ui_action(chrome, server.url, "flip", color=idle)
    assert f"to colour {idle} ({v2})" in summary and seen[-1][0] == "done", log
    assert served(rig) == {(200, idle, v2)}
    assert live_on_page(chrome, server.url) == idle

    summary, seen, log = ui_action(chrome, server.url, "rollback")
    assert f"back to colour {live} ({v1})" in summary and seen[-1][0] == "done", log
    assert served(rig) == {(200, live, v1)}
    assert live_on_page(chrome, server.url) == live
    status, hist, _ = srv[1].get("/history?q=rollback")
    assert "user:ada via essay server (job" in hist


def test_browser_viewer_and_csrf(rig, srv, chrome):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    server, _, _ = srv
    ui_login(chrome, server.url, "vic")
    chrome.implicitly_wait(0)
    assert chrome.find_elements(By.CSS_SELECTOR, "a.action") == []
    token = chrome.find_element(By.NAME, "csrf_token").get_attribute("value")
    status = chrome.execute_async_script(
        "var done = arguments[1]; fetch('/act/flip/run', {method: 'POST', headers: "
        "{'Content-Type': 'application/x-www-form-urlencoded'}, body: 'env=&color=a&"
        "csrf_token=' + encodeURIComponent(arguments[0])}).then(r => done(r.status));", token)
    assert status == 403
    chrome.implicitly_wait(5)
    ui_login(chrome, server.url, "ada")
    chrome.get(server.url + "/act/rollback")
    chrome.execute_script("document.querySelector('main input[name=csrf_token]').remove()")
    review = chrome.find_element(By.ID, "review")
    review.click()
    # the answer is a new page: wait for the form's page to go before reading it
    WebDriverWait(chrome, 30).until(staleness_of(review))
    WebDriverWait(chrome, 30).until(lambda d: d.execute_script(
        "return document.readyState") == "complete")
    assert "CSRF" in chrome.page_source and "summary" not in chrome.page_source
