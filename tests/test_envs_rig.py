"""Environments and secrets on a real rig: Rig(n_web=2, n_lb=2), staging = web1 + lb,
production = web2 + lb2, one essay.toml with [env.staging] and [env.production].

The tests run in file order and build on each other (one project, one rig for the
module): deploy and flip in staging, promote to production, the per-environment lock,
then secrets (set, deploy, the app, a hook and ``es run`` see it; unset; --restart with
the value typed at a terminal), with ``ps`` sampled the whole time and every essay output
kept, to prove no value leaks -- in clear, base64-encoded (as essay carries and stores
it), or as its ``NAME=...`` line.
"""
import base64
import hashlib
import json
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import start_rig
from rig_project import running_project
from tty_util import typing

pytestmark = [pytest.mark.rig, pytest.mark.slow]
PORTS = {"a": [8800, 8801], "b": [8810, 8811]}
ENVS = """
[env.staging.roles]
web = ["web1"]
lb = ["lb"]

[env.production.roles]
web = ["web2"]
lb = ["lb2"]

[env.production.deploy]
# a hook sees the secrets: it leaves the sha256 of one in the colour (never the value)
post_deploy = ['printf %s "${ECHO_TEST_VALUE-}" | sha256sum | cut -c1-64 > "$VIRTUAL_ENV/secret.sha256"']
"""
STATE = "nginx/conf.d/demo.essay"
SHA_CMD = 'printf %s "${ECHO_TEST_VALUE-}" | sha256sum | cut -c1-64'


@pytest.fixture(scope="module")
def rig2():
    """A rig of its own beside the session one (tag + "v", third subnet number + 3)."""
    tag = os.environ.get("ESSAY_RIG_TAG", "es") + "v"
    a, b, c = os.environ.get("ESSAY_RIG_SUBNET", "10.200.0").split(".")
    r = start_rig(n_web=2, n_lb=2, tag=tag, subnet=f"{a}.{b}.{int(c) + 3}")
    try:
        yield r
    finally:
        r.stop()


class Outputs:
    """Every es run's output, kept to check that no secret value is ever printed."""

    def __init__(self):
        self.texts = []


@pytest.fixture(scope="module")
def env(rig2, tmp_path_factory):
    with running_project(rig2, tmp_path_factory.mktemp("envs")) as proj:
        proj.write_config(extra=ENVS)
        proj.outputs = Outputs()
        yield proj


def es(proj, *args, code=0, input=None):
    p = subprocess.run(proj.es_argv(*args), cwd=proj.path, env=proj.env(), text=True,
                       capture_output=True, timeout=300, input=input)
    proj.outputs.texts.append(p.stdout + p.stderr)
    if code is not None:
        assert p.returncode == code, \
            f"es {' '.join(map(str, args))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p


def served(rig, host, color, path="/health"):
    out = []
    for port in PORTS[color]:
        status, body = rig.http_get(host, port, path)
        assert status == 200, f"{host}:{port}{path} answered {status}: {body}"
        out.append(json.loads(body))
    return out


def history(rig, lb, env):
    f = Path(rig.home_of(lb)) / STATE / env / "history"
    return [line.split("\t") for line in f.read_text().splitlines() if line] \
        if f.exists() else []


def last(rig, lb, env):
    """(operation, outcome) of the environment's last history line on ``lb``."""
    row = history(rig, lb, env)[-1]
    return row[2], row[5]


def live(rig, lb, env):
    return os.path.basename(os.readlink(Path(rig.home_of(lb)) / STATE / env / "live"))


class PsSampler(threading.Thread):
    """``ps`` (every process of the machine, with its full argv) every few ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.samples, self.lines = threading.Event(), 0, []

    def run(self):
        while not self.stop.is_set():
            out = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True,
                                 text=True).stdout
            self.samples += 1
            self.lines.append(out)
            time.sleep(0.01)

    def seen(self, needles) -> list[str]:
        return [n for n in needles if any(n in text for text in self.lines)]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join()


def leak_forms(name: str, *values: str) -> list[str]:
    """Every form a value could leak in: as is, base64-encoded (essay carries it so in
    its scripts and stores it so on the hosts), and as its ``NAME=...`` line of each."""
    out = []
    for v in values:
        b64 = base64.b64encode(v.encode()).decode()
        out += [v, b64, f"{name}={v}", f"{name}={b64}"]
    return out


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_staging_deploy_and_flip_open_no_channel_on_production_hosts(rig2, env):
    v1 = env.build()
    env.v1 = v1
    for h in ("web2", "lb2"):
        rig2.mark(h)
    es(env, "-e", "staging", "deploy", v1)
    es(env, "flip", "a", "-e", "staging")
    assert sum(rig2.channels("web2").values()) == 0
    assert sum(rig2.channels("lb2").values()) == 0
    assert {s["version"] for s in served(rig2, "web1", "a")} == {v1}
    status, body = rig2.http_get("lb", 8080, "/health")
    assert status == 200 and json.loads(body)["version"] == v1
    assert live(rig2, "lb", "staging") == "a"
    assert not (Path(rig2.home_of("lb2")) / STATE).exists()   # production never touched
    rows = history(rig2, "lb", "staging")
    # the first flip writes the site file: applied (one reload, recorded) before the flip
    assert [r[2] for r in rows] == ["deploy", "nginx apply", "flip"]
    assert {r[8] for r in rows} == {"staging"}
    hist = es(env, "-e", "staging", "history").stdout
    assert hist.splitlines()[0].split()[-1] == "env" and hist.splitlines()[-1].rstrip().endswith("staging")
    st = es(env, "-e", "staging", "status")
    assert st.stdout.startswith("environment: staging\n")
    assert "environment" not in es(env, "status", code=1).stdout   # none chosen: refused


def test_promote_moves_the_tested_version_and_refuses_an_untested_one(rig2, env):
    v2 = env.build()
    p = es(env, "promote", "--from", "staging", "--to", "production", v2, code=2)
    assert f"{v2} was not tested in staging" in p.stderr and "--force" in p.stderr
    assert not (Path(rig2.home_of("lb2")) / STATE).exists()
    es(env, "promote", "--from", "staging", "--to", "production")
    assert {s["version"] for s in served(rig2, "web2", "a")} == {env.v1}
    prod = history(rig2, "lb2", "production")
    assert [(r[2], r[5], r[8]) for r in prod] == [("promote", "ok", "production")]
    assert f"{env.v1} from staging" in prod[0][6]
    src = history(rig2, "lb", "staging")[-1]
    assert (src[2], src[5], src[8]) == ("promote", "ok", "staging")
    assert f"{env.v1} to production" in src[6]
    # --force takes an untested version (into a again: nothing is live in production
    # yet); --flip makes it live in production only
    es(env, "promote", "--from", "staging", "--to", "production", v2, "--force", "--flip")
    assert live(rig2, "lb2", "production") == "a" and live(rig2, "lb", "staging") == "a"
    status, body = rig2.http_get("lb2", 8080, "/health")
    assert json.loads(body)["version"] == v2
    p = es(env, "promote", "--from", "staging", "--to", "staging", code=2)
    assert "both 'staging'" in p.stderr
    p = es(env, "promote", "--from", "staging", "--to", "prod", code=1)
    assert "expected one of the environments" in p.stderr and "Traceback" not in p.stderr

    # a version *previous* in staging (live before its last flip) counts as tested
    es(env, "-e", "staging", "deploy", v2)                 # into staging's idle colour, b
    es(env, "-e", "staging", "flip", "b")                  # live b (v2), previous a (v1)
    es(env, "promote", "--from", "staging", "--to", "production", env.v1)
    assert {s["version"] for s in served(rig2, "web2", "b")} == {env.v1}
    assert last(rig2, "lb2", "production") == ("promote", "ok")
    es(env, "-e", "staging", "rollback")                   # staging: a (v1) live again
    assert live(rig2, "lb", "staging") == "a"

    # the deploy refused (production's idle colour takes canary traffic, so no colour is
    # free): production as it was, and both histories say failed
    es(env, "-e", "production", "flip", "b", "--weight", "10")
    try:
        p = es(env, "promote", "--from", "staging", "--to", "production", code=2)
        assert "is live" in p.stderr and "Traceback" not in p.stderr
        assert last(rig2, "lb2", "production") == ("promote", "failed")
        assert last(rig2, "lb", "staging") == ("promote", "failed")
    finally:
        es(env, "-e", "production", "rollback")           # ends the canary

    # the health gate fails (a health path the app does not answer): production's live
    # colour and what its lb serves unchanged, both histories say failed
    env.write_config(extra=ENVS.replace("[env.production.deploy]\n", "[env.production.deploy]"
                                        '\nhealth_path = "/nope"\nhealth_timeout = 2\n'))
    try:
        p = es(env, "promote", "--from", "staging", "--to", "production", code=1)
        assert "health" in p.stdout + p.stderr and "nothing was flipped" in p.stderr
    finally:
        env.write_config(extra=ENVS)
    assert live(rig2, "lb2", "production") == "a"
    status, body = rig2.http_get("lb2", 8080, "/health")
    assert status == 200 and json.loads(body)["version"] == v2
    assert last(rig2, "lb2", "production") == ("promote", "failed")
    assert last(rig2, "lb", "staging") == ("promote", "failed")


def test_one_environments_lock_does_not_block_the_other(rig2, env):
    lock = f"~/{STATE}/staging/lock"
    rig2.sh("lb", f"mkdir -p {lock} && printf 'tok\\tsomeone@elsewhere\\t2026-01-01T00:00:00Z"
                  f"\\tdeploy\\tlong job\\n' > {lock}/info")
    try:
        p = es(env, "-e", "staging", "flip", "b", code=3)
        assert "locked by someone@elsewhere" in p.stderr
        es(env, "-e", "production", "deploy", env.v1)    # into production's idle colour
        assert {s["version"] for s in served(rig2, "web2", "b")} == {env.v1}
        assert "the lock is free" in es(env, "-e", "production", "lock", "status").stderr
    finally:
        rig2.sh("lb", f"rm -rf {lock}")


def test_secrets_reach_the_app_and_never_leak(rig2, env):
    value = "hunter2-" + secrets.token_hex(8)
    other = "dry-" + secrets.token_hex(8)
    typed = "typed-" + secrets.token_hex(8)
    forms = leak_forms("ECHO_TEST_VALUE", value, other, typed)
    # `other` is given as KEY=VALUE, so it is in es's own argv on this machine (documented
    # in docs/secrets.md): ps is searched for the values given on stdin or typed
    argv_forms = leak_forms("ECHO_TEST_VALUE", value, typed)
    since = time.time()
    with PsSampler() as ps:   # until the end of the test: set, deploy, unset, --restart
        # from stdin (not a tty): the value is in no argv, even on this machine
        es(env, "-e", "production", "secrets", "set", "ECHO_TEST_VALUE", input=value + "\n")
        p = es(env, "-e", "production", "secrets", "list")
        assert "ECHO_TEST_VALUE" in p.stdout and "same on every host" in p.stdout
        es(env, "-e", "production", "deploy", env.v1)      # into the idle colour, b
        assert [s["ECHO_TEST_VALUE"] for s in served(rig2, "web2", "b", "/env")] == [value] * 2
        assert {s["ESSAY_ENV"] for s in served(rig2, "web2", "b", "/env")} == {"production"}
        # a post_deploy hook and `es run` see it too (each shows only its sha256)
        assert rig2.sh("web2", "cat ~/demo/b/secret.sha256").stdout.strip() == sha(value)
        p = es(env, "-e", "production", "run", "--color", "b", "--", "sh", "-c", SHA_CMD)
        assert p.stdout.strip().splitlines()[-1] == sha(value), p.stdout + p.stderr
        # staging's hosts have no such secret
        es(env, "-e", "staging", "deploy", env.v1)
        assert {s["ECHO_TEST_VALUE"] for s in served(rig2, "web1", "b", "/env")} == {None}
        dry = es(env, "-e", "production", "secrets", "set", "--dry-run", f"ECHO_TEST_VALUE={other}")
        assert "<redacted>" in dry.stdout and other not in dry.stdout + dry.stderr

        # never in git: the project is as committed, and no commit ever held it
        assert env.git("status", "--porcelain") == ""
        log = env.git("log", "-p", "--all")
        assert log and not [f for f in forms if f in log]
        # nor in any world-readable file on the hosts or in /tmp
        home = Path(rig2.home_of("web2"))
        secret_file = home / "demo" / "secrets.env"
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        readable = subprocess.run(
            ["find", str(rig2.base), "/tmp", "-xdev", "-type", "f", "-perm", "-o=r",
             "-newermt", f"@{since - 1:.0f}", "-size", "-2M"],
            capture_output=True, text=True).stdout.split()
        leaked = []
        for f in readable:
            try:
                data = Path(f).read_bytes()
            except OSError:   # gone since find listed it
                continue
            leaked += [(f, n) for n in forms if n.encode() in data]
        assert not leaked
        conf = (home / "demo" / "b" / "etc" / "supervisord.conf").read_text()
        assert value not in conf and "essay-exec" in conf

        # unset: gone after the next deploy
        es(env, "-e", "production", "secrets", "unset", "ECHO_TEST_VALUE")
        assert "ECHO_TEST_VALUE" not in es(env, "-e", "production", "secrets", "list").stdout
        es(env, "-e", "production", "deploy", env.v1)
        assert {s["ECHO_TEST_VALUE"] for s in served(rig2, "web2", "b", "/env")} == {None}

        # --restart, the value typed at a terminal (a real pty): not echoed, and taken;
        # the idle colour sees it at once, the live one only with --live
        code, shown = typing(env.es_argv("-e", "production", "secrets", "set",
                                         "ECHO_TEST_VALUE", "--restart"),
                             env.path, env.env(), b"(not echoed): ", typed)
        env.outputs.texts.append(shown)
        assert "ECHO_TEST_VALUE (not echoed): " in shown and code == 0, shown
        assert {s["ECHO_TEST_VALUE"] for s in served(rig2, "web2", "b", "/env")} == {typed}
        assert {s["ECHO_TEST_VALUE"] for s in served(rig2, "web2", "a", "/env")} == {None}
        es(env, "-e", "production", "secrets", "set", "ECHO_TEST_VALUE=both", "--restart",
           "--live")
        assert {s["ECHO_TEST_VALUE"] for c in "ab" for s in served(rig2, "web2", c, "/env")} \
            == {"both"}
        p = es(env, "-e", "production", "secrets", "set", "ESSAY_COLOR=x", code=2)
        assert "reserved" in p.stderr
    # in no process's argv, and in none of essay's output, in any form
    assert ps.samples > 50 and ps.seen(argv_forms) == []
    assert not [f for f in forms for t in env.outputs.texts if f in t]


def test_secrets_change_on_every_host_or_none_and_list_compares(rig2, env):
    """Across two web hosts (a second essay.toml without environments naming both):
    a host that cannot stage, or cannot commit, leaves every host unchanged; the app
    sees the value on both hosts after a deploy; list tells missing/differs."""
    both = env.path / "both.toml"
    both.write_text(rig2.essay_toml("demo", index_url=env.index_url,
                                    upload_url=f"http://{rig2.index_address}:{env.port}/"))
    files = {h: Path(rig2.home_of(h)) / "demo" / "secrets.env" for h in ("web1", "web2")}
    rig2.sh("web1", "mkdir -p ~/demo && rm -f ~/demo/secrets.env")
    es(env, "-e", "production", "secrets", "set", "ECHO_TEST_VALUE=prod")   # web2 only
    before = {h: f.read_bytes() if f.exists() else None for h, f in files.items()}
    rig2.sh("web1", "chmod 555 ~/demo")     # web1 cannot stage a new file
    try:
        p = es(env, "-c", both, "secrets", "set", "OTHER=1", code=1)
        assert "not changed on any host" in p.stderr and "web1" in p.stderr
    finally:
        rig2.sh("web1", "chmod 755 ~/demo")
    assert {h: f.read_bytes() if f.exists() else None for h, f in files.items()} == before
    assert not list((Path(rig2.home_of("web2")) / "demo").glob("secrets.env.essay-*"))
    # web1 stages, but its file cannot be replaced (a directory in its place): web2, which
    # committed, gets its previous file back
    rig2.sh("web1", "mkdir ~/demo/secrets.env")
    try:
        p = es(env, "-c", both, "secrets", "set", "OTHER=1", code=1)
        assert "not changed on any host: the commit failed (web1:" in p.stderr, p.stderr
        assert "put the previous values back on web2" in p.stderr
        assert files["web2"].read_bytes() == before["web2"]
        assert rig2.sh("web1", "ls -A ~/demo/secrets.env").stdout == ""
        for h in ("web1", "web2"):
            assert not list((Path(rig2.home_of(h)) / "demo").glob("secrets.env.essay-*"))
    finally:
        rig2.sh("web1", "rmdir ~/demo/secrets.env")
    p = es(env, "-c", both, "secrets", "list", code=1)   # not the same everywhere: exit 1
    assert "missing on web1" in p.stdout          # production's value is on web2 only
    value = "same-" + secrets.token_hex(4)
    es(env, "-c", both, "secrets", "set", f"ECHO_TEST_VALUE={value}")
    p = es(env, "-c", both, "secrets", "list")
    assert "same on every host" in p.stdout and value not in p.stdout + p.stderr
    # the app sees it on every host: deployed to both, read from each host's processes
    es(env, "-c", both, "deploy", env.v1, "--color", "b")
    assert {h: {s["ECHO_TEST_VALUE"] for s in served(rig2, h, "b", "/env")}
            for h in ("web1", "web2")} == {"web1": {value}, "web2": {value}}
    assert not [h for h in ("web1", "web2") if
                list((Path(rig2.home_of(h)) / "demo").glob("secrets.env.essay-*"))]
    rig2.sh("web1", "printf 'ECHO_TEST_VALUE=%s\\n' \"$(printf other | base64)\" "
                    "> ~/demo/secrets.env")
    p = es(env, "-c", both, "secrets", "list", code=1)
    assert "DIFFERS between hosts" in p.stdout
