"""``es server`` without the rig: signatures, settings, login, sessions, CSRF, roles,
throttling, webhooks refused or accepted, restart, SIGTERM -- against a real server
process (``es server`` on a free port) over HTTP."""
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys

import pytest

from server_util import Browser, Server, add_user, wait_job
from test_flip import wait_until

from essay.server import webhooks


# --- pure: webhook signatures ---------------------------------------------------------

@pytest.mark.parametrize("provider", webhooks.PROVIDERS)
def test_signatures(provider):
    body, secret = b'{"ref": "refs/heads/main"}', b"s3cret"
    good = webhooks.sign(provider, secret, body)
    assert webhooks.verify(provider, secret, good, body) == 0
    assert webhooks.verify(provider, secret, {}, body) == 401
    bad = webhooks.sign(provider, b"other", body)
    assert webhooks.verify(provider, secret, bad, body) == 403
    if provider != "gitlab":   # the signature covers the body
        assert webhooks.verify(provider, secret, good, body + b" ") == 403


def test_github_signature_is_hmac_sha256_of_the_raw_body():
    body = b'{"zen": "x"}'
    want = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert webhooks.sign("github", b"k", body) == {"X-Hub-Signature-256": want}


def test_parse_push():
    p = webhooks.parse("github", {"X-GitHub-Delivery": "d1", "X-GitHub-Event": "push"},
                       json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode())
    assert (p.delivery, p.event, p.branch, p.after) == ("github:d1", "push", "main", "a" * 40)
    assert webhooks.parse("gitlab", {"X-Gitlab-Event": "Push Hook"}, b"{}").event == "push"
    assert webhooks.parse("github", {}, b'{"ref": "refs/tags/v1"}').branch == ""


# --- the CLI never loads the web stack ------------------------------------------------------

def test_the_cli_does_not_import_the_web_stack():
    code = ("import sys, essay.cli, essay.commands; essay.cli.build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'flask', 'flask_login', 'flask_wtf', 'huey', 'sqlalchemy', 'werkzeug', 'redis'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# --- a project and a real server --------------------------------------------------------------

@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    from essay.create import create

    path = create("demo", output_dir=str(tmp_path_factory.mktemp("srv")), no_input=True)
    # no hosts at all: these tests never reach one (the rig tests do)
    (path / "essay.toml").write_text('[project]\nname = "demo"\n\n[roles]\nweb = []\n'
                                     'lb = []\n\n[server]\nbranch = "main"\n')
    return path


@pytest.fixture(scope="module")
def env(proj):
    return dict(os.environ, NO_COLOR="1", ESSAY_WEBHOOK_SECRET="hook-secret")


@pytest.fixture(scope="module")
def server(proj, env):
    add_user(proj, env, "ada", "admin")
    add_user(proj, env, "dee", "deployer")
    add_user(proj, env, "vic", "viewer")
    add_user(proj, env, "tess", "viewer")
    s = Server(proj, env)
    yield s
    assert s.stop() == 0


def es(proj, env, *args, input=None):
    return subprocess.run([sys.executable, "-m", "essay", *args], cwd=proj, env=env,
                          input=input, text=True, capture_output=True)


def test_bad_server_settings_are_one_line_errors(proj, env, tmp_path):
    for extra, word in (('queue = "amqp://x"', "[server] queue"),
                        ('port = 99999', "[server] port"), ('nope = 1', "unknown key")):
        bad = tmp_path / "essay.toml"
        bad.write_text((proj / "essay.toml").read_text() + extra + "\n")
        p = es(proj, env, "-c", str(bad), "server", "--port", "1")
        assert p.returncode != 0 and word in p.stderr and "Traceback" not in p.stderr, p.stderr
    p = es(proj, env, "server", "user", "add", "x", "--role", "viewer", input="short\n")
    assert p.returncode == 2 and "at least 8" in p.stderr
    p = es(proj, env, "server", "worker")
    assert p.returncode == 2 and "[server] queue is not set" in p.stderr


def test_login_sessions_and_throttling(server):
    b = Browser(server.url)
    assert b.get("/")[0] == 302                         # not logged in: to the login page
    assert b.login("ada", "wrong")[0] == 401
    status, _, headers = b.login("ada", "correct horse")
    assert status == 302 and headers["Location"] == "/"
    status, html, _ = b.get("/")
    assert status == 200 and "ada (admin)" in html
    t = Browser(server.url)
    for _ in range(5):
        assert t.login("tess", "nope")[0] == 401
    status, html, _ = t.login("tess", "correct horse")   # the right one, too late
    assert status == 429 and "too many failed logins" in html


def test_every_form_needs_its_csrf_token(server):
    b = Browser(server.url)
    assert b.post("/login", {"name": "ada", "password": "correct horse"}, csrf=False)[0] == 400
    b.login("ada", "correct horse")
    status, html, _ = b.post("/act/rollback/run", {"env": ""}, csrf=False)
    assert status == 400 and "CSRF" in html
    status, _, _ = b.post("/logout", {}, csrf=False)
    assert status == 400 and b.get("/")[0] == 200        # still logged in


def test_a_viewer_sees_no_action_and_cannot_post_one(server):
    b = Browser(server.url)
    b.login("vic", "correct horse")
    status, html, _ = b.get("/")
    assert status == 200 and "vic (viewer)" in html and 'class="button action"' not in html
    assert b.get("/act/deploy")[0] == 403
    for kind in ("deploy", "flip", "rollback", "lock-break"):
        assert b.post(f"/act/{kind}/run", {"env": "", "color": "a"}, token_from="/")[0] == 403
    d = Browser(server.url)
    d.login("dee", "correct horse")
    html = d.get("/")[1]
    assert 'id="act-deploy-default"' in html and 'id="act-lock-break-default"' not in html
    assert d.post("/act/lock-break/run", {"env": ""}, token_from="/")[0] == 403


def test_webhooks_are_verified_before_anything(server, proj):
    b = Browser(server.url)
    body = json.dumps({"ref": "refs/heads/main", "after": "b" * 40}).encode()
    head = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1",
            "Content-Type": "application/json"}
    assert b.request("/hooks/github", body, head)[0] == 401
    bad = {**head, **webhooks.sign("github", b"wrong", body)}
    assert b.request("/hooks/github", body, bad)[0] == 403
    assert b.request("/hooks/gitlab", body, {"X-Gitlab-Token": "wrong"})[0] == 403
    other = json.dumps({"ref": "refs/heads/dev", "after": "b" * 40}).encode()
    h = {**head, "X-GitHub-Delivery": "d-2", **webhooks.sign("github", b"hook-secret", other)}
    status, out, _ = b.request("/hooks/github", other, h)
    assert status == 200 and "not to branch main" in out
    good = {**head, **webhooks.sign("github", b"hook-secret", body)}
    status, out, _ = b.request("/hooks/github", body, good)
    assert status == 202, out
    job = json.loads(out)["job"]
    status, out, _ = b.request("/hooks/github", body, good)        # the same delivery again
    assert status == 200 and "seen before" in out
    b.login("ada", "correct horse")
    data = wait_job(b, job, 60)   # the commit does not exist: the pipeline says so
    assert data["state"] == "failed" and "b" * 40 in data["outcome"]
    assert "hook-secret" not in json.dumps(data)


def test_api_tokens(server, proj, env):
    p = es(proj, env, "server", "token", "add", "ci", "--role", "viewer")
    token = p.stdout.strip()
    b = Browser(server.url)
    data = json.dumps({"kind": "rollback", "env": ""}).encode()
    h = {"Content-Type": "application/json"}
    assert b.request("/api/jobs", data, h)[0] == 401
    assert b.request("/api/jobs", data, {**h, "Authorization": "Bearer nope"})[0] == 401
    assert b.request("/api/jobs", data, {**h, "Authorization": f"Bearer {token}"})[0] == 403


def test_a_restart_keeps_users_and_job_logs_and_listens_where_told(proj, env, server):
    b = Browser(server.url)
    b.login("ada", "correct horse")
    # a job of this test's own, with a log: a push of a commit the project does not have
    body = json.dumps({"ref": "refs/heads/main", "after": "d" * 40}).encode()
    status, out, _ = b.request("/hooks/github", body, {
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "restart-1",
        **webhooks.sign("github", b"hook-secret", body)})
    assert status == 202, out
    job = json.loads(out)["job"]
    before = wait_job(b, job, 60)
    assert before["state"] == "failed" and len(before["lines"]) >= 2, before
    page = b.get(f"/jobs/{job}")[1]
    assert "started by webhook:github:restart-1" in page      # who: the delivery
    jobs_before = b.get("/jobs")[1]

    assert server.restart(host="127.0.0.2") == 0     # SIGTERM: a clean exit, then a new one
    # it says where it listens once it does (after the port opened: poll for the line)
    wait_until(lambda: f"on http://127.0.0.2:{server.port}/" in server.output(), 30,
               what="the line naming the address")
    with pytest.raises(ConnectionRefusedError):      # --host: only there
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    b2 = Browser(server.url)
    assert b2.login("ada", "correct horse")[0] == 302          # the same user
    assert json.loads(b2.get(f"/jobs/{job}/lines")[1]) == before   # every line, as it was
    assert b2.get("/jobs")[1].split("<h1>", 1)[1] == jobs_before.split("<h1>", 1)[1]


@pytest.mark.parametrize("provider,headers", [
    ("gitlab", {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "g-1"}),
    ("gitea", {"X-Gitea-Event": "push", "X-Gitea-Delivery": "t-1"})])
def test_gitlab_and_gitea_pushes_start_a_pipeline(server, provider, headers):
    b = Browser(server.url)
    body = json.dumps({"ref": "refs/heads/main", "after": "c" * 40}).encode()
    signed = {**headers, **webhooks.sign(provider, b"hook-secret", body)}
    status, out, _ = b.request(f"/hooks/{provider}", body, signed)
    assert status == 202 and json.loads(out)["job"], out
    assert b.request(f"/hooks/{provider}", body, signed)[0] == 200       # replayed


def test_the_secret_file_must_be_0600_and_the_variable_wins(tmp_path, monkeypatch):
    from essay.config import from_dict
    from essay.config.reader import ConfigError
    from essay.server.settings import SECRET_VAR, load

    f = tmp_path / "hook.secret"
    f.write_text("from-file\n")
    cfg = from_dict({"project": {"name": "demo"}, "server": {"secret_file": str(f)}},
                    tmp_path / "essay.toml")
    monkeypatch.delenv(SECRET_VAR, raising=False)
    f.chmod(0o644)
    with pytest.raises(ConfigError, match="0644, expected 0600"):
        load(cfg).secret()
    f.chmod(0o600)
    assert load(cfg).secret() == b"from-file"
    monkeypatch.setenv(SECRET_VAR, "from-env")
    assert load(cfg).secret() == b"from-env"
