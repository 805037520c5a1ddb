"""What a deploy runs on one web host, as data: one :class:`Script`, one round trip.

Steps, in order (a failing step stops the host; the other colour is never touched):

1. prepare     -- the colour's virtualenv at ``{prefix}/{colour}``, plus etc/ logs/ run/,
                  the exec wrapper bin/essay-exec and etc/essay.env (essay.secrets.host)
2. pre_deploy  -- hooks, in the colour's venv, through the wrapper (if there are any)
3. install     -- ``NAME===VERSION`` and supervisor from the private index (pip or uv; the
                  index URL in the environment, never argv); the version checked
4. configure   -- the rendered ``conf/supervisord.conf.j2`` into etc/supervisord.conf
5. start       -- the colour's supervisord: started, or its programs restarted
6. health      -- every process answers 200 on ``127.0.0.1:{port + i}{health_path}``
7. record      -- release.json in the colour's directory (JSON-encoded): version, commit,
                  time, who (client user and the SSH user the host saw)
8. post_deploy -- hooks (only if there are any)

With ``[deploy] release`` the deploy runs in three phases, one script (one round trip)
per host each: steps 1-4 on every host (:func:`install_script`), then the release command
once, on the first host (:func:`release_script`), then steps 5-8 on every host
(:func:`start_script`). Without it, all eight steps are one script (:func:`deploy_script`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from essay import health
from essay.config.app import runtime_packages
from essay.projectcheck import module_of
from essay.remote.script import Script, Step
from essay.remote.shell import cmd, q, qpath, write_file
from essay.secrets import host


@dataclass(frozen=True)
class Target:
    """One host's deploy: everything the builders need, already validated."""

    host: str
    color: str
    version: str
    profile: str
    user: str                   # who deploys, recorded with the release
    supervisord_conf: str       # rendered
    pre_deploy: tuple[str, ...] = ()
    post_deploy: tuple[str, ...] = ()
    live: bool = False          # deploying into the live colour (--force): its workers run
    web: bool = True            # a web host (serves, is health-checked); else workers only


def venv_env(cfg, t: Target) -> str:
    """Shell text that activates the colour's venv and tells hooks what is deployed."""
    d = qpath(cfg.color_dir(t.color))
    return (f". {d}/bin/activate && export ESSAY_VERSION={q(t.version)} "
            f"ESSAY_COLOR={q(t.color)} ESSAY_PROFILE={q(t.profile)} ESSAY_HOST={q(t.host)} "
            f"ESSAY_PORT={q(cfg.colors[t.color])}")


def prepare(cfg, t: Target) -> Step:
    d = qpath(cfg.color_dir(t.color))
    make = (f"uv venv --quiet --allow-existing --python {q(cfg.python)} {d}"
            if cfg.installer == "uv"
            else f"{q(cfg.python)} -m venv {d}")
    return Step("prepare", f"mkdir -p {d}/etc {d}/logs {d}/run\n"
                           f"[ -x {d}/bin/python ] || {make}\n"
                           + host.install(cfg, t.color, t.version, t.profile))


#: Python that prints the version of the distribution named in argv[1] that the venv's
#: Python finds first on its path, as importlib.metadata would (a .pth that shadows it
#: counts), without importing it: ~25 ms where importlib.metadata took ~100 ms (measured)
INSTALLED = (Path(__file__).parent / "installed.py").read_text()


def installed(cfg, color: str) -> str:
    """Shell text: the version of the project installed in ``color``'s venv (or nothing)."""
    d = qpath(cfg.color_dir(color))
    return f"{d}/bin/python -c {q(INSTALLED)} {q(cfg.name)}"


def index_env(cfg) -> list[tuple[str, str]]:
    """The installer's index settings as environment variables. The URL may hold a
    password: exported inside the script (which travels on stdin), it is never on a
    command line (``ps``) and never in a file."""
    url = urlsplit(cfg.index_url)
    if cfg.installer == "uv":
        env = [("UV_DEFAULT_INDEX", cfg.index_url)]
        if url.scheme == "http":   # plain http: the installer wants it trusted
            env.append(("UV_INSECURE_HOST", url.hostname))
    else:
        env = [("PIP_INDEX_URL", cfg.index_url)]
        if url.scheme == "http":
            env.append(("PIP_TRUSTED_HOST", url.hostname))
    return env


def install(cfg, t: Target) -> Step:
    """``NAME===VERSION`` (exact: ``==`` would also take ``VERSION+label``), then the
    installed version is checked before anything starts."""
    d = qpath(cfg.color_dir(t.color))
    spec = (f"{cfg.name}==={t.version}", "supervisor", *runtime_packages(cfg))
    if cfg.installer == "uv":
        line = f"uv pip install --quiet --python {d}/bin/python {cmd(*spec)}"
    else:
        line = (f"{d}/bin/python -m pip install --quiet --disable-pip-version-check "
                f"{cmd(*spec)}")
    return Step("install", "\n".join(
        [f"export {k}={q(v)}" for k, v in index_env(cfg)] + [
            line,
            f"got=$({installed(cfg, t.color)})",
            f"if [ \"$got\" != {q(t.version)} ]; then",
            f"  echo \"installed {cfg.name} is '$got', not {t.version}: not starting it\"",
            "  exit 4", "fi"]))


def configure(cfg, t: Target) -> Step:
    return Step("configure", write_file(f"{cfg.color_dir(t.color)}/etc/supervisord.conf",
                                        t.supervisord_conf, mode="600"))


def supervisorctl(cfg, color: str, *args) -> str:
    d = qpath(cfg.color_dir(color))
    return f"{d}/bin/supervisorctl -c {d}/etc/supervisord.conf {cmd(*args)}"


#: The program that asks a colour's supervisord over its socket: essay/deploy/supervise.py,
#: after gunicorn_reload.py (its reload checks), one text run with python -c
SUPERVISE = "\n".join((Path(__file__).parent / f).read_text()
                      for f in ("gunicorn_reload.py", "supervise.py"))


def supervise(cfg, color: str, *args) -> str:
    """Shell text: run :data:`SUPERVISE` with the colour's Python on its supervisord.conf."""
    d = qpath(cfg.color_dir(color))
    return f"{d}/bin/python -I -S -c {q(SUPERVISE)} {d}/etc/supervisord.conf {cmd(*args)}"


def start(cfg, t: Target) -> Step:
    """Start the colour's supervisord, or make the running one pick up the new version:
    its configuration updated, each gunicorn master reloaded (SIGHUP: new workers) when
    nothing but the project's own distribution was installed since it started, the other
    web programs (and in the live colour the workers) stopped at once and started at once
    (:data:`SUPERVISE`, one process).

    Workers (``worker-*``) are restarted only in the live colour: an idle colour's
    workers stay stopped (essay.workers). A program that does not start (``spawn error``)
    does not fail this step: the health step then fails, saying what each process
    answered, supervisor's view and the logs."""
    d = qpath(cfg.color_dir(t.color))
    restart = supervise(cfg, t.color, "restart", *(["--workers"] if t.live else []),
                        "--reload-app", cfg.name)
    return Step("start", "\n".join([
        f"rc=0; {restart} || rc=$?",
        # 7: supervisord does not answer (not running): start it, and its programs with it
        f'if [ "$rc" = 7 ]; then {d}/bin/supervisord -c {d}/etc/supervisord.conf',
        "elif [ \"$rc\" = 1 ]; then echo 'not every program started; see the health check'",
        'elif [ "$rc" != 0 ]; then exit "$rc"; fi']))


def check_health(cfg, t: Target) -> Step:
    """Every process answers 200 with the version, and the ports are held by this
    colour's own supervisord's processes (not an earlier install's, answering for them):
    one process (:func:`essay.health.deployed`)."""
    d = qpath(cfg.color_dir(t.color))
    return Step("health", "\n".join([
        f"if ! {health.deployed(cfg, t.color, cfg.health_timeout, t.version)}; then",
        f"  echo '--- supervisor status'; {supervisorctl(cfg, t.color, 'status')} || true",
        f"  for f in {d}/logs/*.log; do echo \"--- tail $f\"; tail -n 12 \"$f\"; done",
        "  exit 3", "fi"]))


#: Python that writes release.json (a JSON encoder: any text in any field stays valid JSON)
#: and appends it to releases.log; prints the commit. argv: version user color profile
#: version-module dir. ``ssh_user`` is the account the host saw, whoever the client says.
RECORD = """\
import importlib, json, os, pwd, sys, time
version, user, color, profile, module, d = sys.argv[1:]
try:
    commit = str(getattr(importlib.import_module(module), "commit", "") or "")
except Exception:
    commit = ""   # no commit to tell is no reason to fail a deploy
rec = {"version": version, "commit": commit,
       "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "user": user,
       "ssh_user": pwd.getpwuid(os.getuid()).pw_name, "color": color, "profile": profile}
line = json.dumps(rec) + "\\n"
with open(os.path.join(d, "release.json.tmp"), "w") as f:
    f.write(line)
os.replace(os.path.join(d, "release.json.tmp"), os.path.join(d, "release.json"))
with open(os.path.join(d, "releases.log"), "a") as f:
    f.write(line)
print(commit)
"""


def record(cfg, t: Target) -> Step:
    d = qpath(cfg.color_dir(t.color))
    return Step("record", "\n".join([
        f"commit=$(cd {d} && {d}/bin/python -c {q(RECORD)} {cmd(t.version, t.user, t.color)} "
        f"{cmd(t.profile, module_of(cfg.version_file))} {d})",
        'essay_data commit "$commit"']))


def hooks(cfg, t: Target, name: str, commands) -> Step:
    """Each hook through the colour's exec wrapper: it sees the secrets as variables."""
    lines = [venv_env(cfg, t)] + [host.exec_line(cfg, t.color, "bash", "-c", c)
                                  for c in commands]
    return Step(name, "\n".join(lines))


def install_steps(cfg, t: Target) -> list[Step]:
    steps = [prepare(cfg, t)]
    if t.pre_deploy:
        steps.append(hooks(cfg, t, "pre_deploy", t.pre_deploy))
    return steps + [install(cfg, t), configure(cfg, t)]


def start_steps(cfg, t: Target) -> list[Step]:
    steps = [start(cfg, t)] + ([check_health(cfg, t)] if t.web else []) + [record(cfg, t)]
    if t.post_deploy:
        steps.append(hooks(cfg, t, "post_deploy", t.post_deploy))
    return steps


def deploy_script(cfg, t: Target) -> Script:
    return Script(title=f"deploy {cfg.name} {t.version} into {t.color} on {t.host}",
                  steps=tuple(install_steps(cfg, t) + start_steps(cfg, t)))


def install_script(cfg, t: Target) -> Script:
    return Script(title=f"install {cfg.name} {t.version} into {t.color} on {t.host}",
                  steps=tuple(install_steps(cfg, t)))


def start_script(cfg, t: Target) -> Script:
    return Script(title=f"start {cfg.name} {t.version} in {t.color} on {t.host}",
                  steps=tuple(start_steps(cfg, t)))


def release_script(cfg, t: Target) -> Script:
    """``[deploy] release``, once, in the colour's venv and environment: the new version
    is installed, nothing of the colour has restarted yet."""
    return Script(title=f"release {cfg.name} {t.version} ({t.color}) on {t.host}",
                  steps=(hooks(cfg, t, "release", (cfg.release,)),))   # as a hook runs
