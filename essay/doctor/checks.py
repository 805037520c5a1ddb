"""The doctor's checks as data: local findings, and one script per host (one round trip)."""
from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit

from essay.config.credentials import PASSWORD_VAR, toml_warning
from essay.remote import hosts as hostmod
from essay.remote.script import HostResult, Script, Step
from essay.remote.shell import cmd

LOCAL = "(local)"   # the host column of checks made on this machine


@dataclass(frozen=True)
class Finding:
    host: str
    check: str
    ok: bool
    detail: str
    fix: str = ""


#: How to fix a failed remote check, by name (the state-dir check says it itself).
FIXES = {
    "python": "install python3 on the host, or set [deploy] python to its path",
    "venv": "install the venv module (Debian/Ubuntu: apt install python3-venv)",
    "venv-uv": 'put uv on the host\'s PATH, or set [deploy] installer = "pip"',
    "index": "set [index] url to an address the web hosts reach (serve it there: "
             "es pypi serve --host 0.0.0.0), with the right user and password",
    "nginx-test": "make [nginx] test runnable by the lb user without a password (a sudoers "
                  "NOPASSWD rule, or an nginx the user owns: docs/getting-started.md), or "
                  "change [nginx] test in essay.toml",
    "nginx-reload": "make [nginx] reload runnable by the lb user without a password, or "
                    "change [nginx] reload in essay.toml",
    "nginx-pid": "set [nginx] pid_file to the path in nginx's pid directive (essay waits "
                 "on it until a reload has finished), or to \"\" not to wait",
    "python3": "install python3 on the lb host",
    "ssh": "",
}


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_findings(cfg) -> list[Finding]:
    """What can be told without a host: the project's files, its templates, the index URL."""
    from essay import projectcheck
    from essay.conf_check import check_conf

    out = [Finding(LOCAL, "essay.toml", True, str(cfg.path or "defaults"))]
    problems = projectcheck.check(cfg.root, cfg.package, cfg.version_file, app=cfg.app)
    out += [Finding(LOCAL, "project", False, p.what, p.fix) for p in problems]
    if not problems:
        out.append(Finding(LOCAL, "project", True, "buildable (metadata, version_file, "
                           "WSGI entry point)"))
    conf = check_conf(cfg.root / "conf", cfg)
    out += [Finding(LOCAL, "conf", False, line, "see " + (re.findall(r"\((docs/[^)\s]+)\)", line)
                                                          or ["docs/templates.md"])[-1])
            for line in conf]
    if not conf:
        out.append(Finding(LOCAL, "conf", True, "conf/*.j2: no known-unsafe setting"))
    if toml_warning(cfg):
        out.append(Finding(LOCAL, "index-password", False, toml_warning(cfg).split("; ")[0],
                           f"remove it from the url and set {PASSWORD_VAR} in the "
                           'environment, or "index" in .essay/credentials.json '
                           "(docs/secrets.md#the-index-password)"))
    remote = [h for h in cfg.hosts("web") if not hostmod.is_local(h)]
    index_host = urlsplit(cfg.index_url).hostname
    if remote and is_loopback(index_host):
        out.append(Finding(LOCAL, "index", False,
                           f"[index] url points at {index_host}, a loopback address, but the "
                           f"web hosts {', '.join(remote)} are remote: each would ask itself",
                           "set [index] url to this machine's address as the hosts see it, "
                           "and serve there (es pypi serve --host 0.0.0.0)"))
    return out


def reload_check(reload: str) -> str:
    """Shell text that tells, without reloading, whether ``[nginx] reload`` can run: sudo
    asked (``-n -l``) whether it would allow it without a password; else the program exists."""
    try:
        words = shlex.split(reload)
    except ValueError:
        words = []
    if not words:
        return "echo '[nginx] reload is not a command'; false"
    if words[0] == "sudo":
        return (f"sudo -n -l {cmd(*words[1:])} >/dev/null 2>&1 || "
                f"{{ echo {shlex.quote('sudo would not run it without a password')}; false; }}")
    return (f"command -v -- {shlex.quote(words[0])} >/dev/null || "
            f"{{ echo {shlex.quote(words[0] + ' is not on PATH')}; false; }}")


def _resource(name: str) -> str:
    return resources.files("essay.doctor").joinpath(name).read_text(encoding="utf-8")


def host_script(cfg, host: str) -> Script:
    """What ``host`` runs: the web checks if it has the web role, the lb checks if lb."""
    steps, env = [], []
    if host in cfg.hosts("web"):
        env += [("DOCTOR_PYTHON", cfg.python), ("DOCTOR_INSTALLER", cfg.installer),
                ("DOCTOR_PROJECT", cfg.name), ("ESSAY_INDEX_URL", cfg.index_url)]
        steps.append(Step("web checks", _resource("web.sh")))
    if host in cfg.hosts("lb"):
        env += [("DOCTOR_TEST", cfg.nginx_test), ("DOCTOR_RELOAD_CHECK",
                                                  reload_check(cfg.nginx_reload)),
                ("DOCTOR_PID_FILE", cfg.nginx_pid_file), ("DOCTOR_STATE", cfg.nginx_state_dir)]
        reload_defs = resources.files("essay.flip").joinpath("reload.sh").read_text("utf-8")
        steps.append(Step("lb checks", reload_defs + "\n" + _resource("lb.sh")))
    return Script(f"doctor on {host}", tuple(steps), env=tuple(env), progress=False)


def host_findings(cfg, result: HostResult) -> list[Finding]:
    """The result of one host's script as findings (an unreachable host: one, saying why)."""
    if not result.ok and not result.data.get("check"):
        return [Finding(result.host, "ssh", False, result.reason)]
    known = ("reachable; unknown host keys are accepted ([ssh] accept_new_host_keys)"
             if cfg.accept_new_host_keys else "reachable, host key known")
    out = [Finding(result.host, "ssh", True, "this machine, no SSH" if
                   hostmod.is_local(result.host) else known)]
    for line in result.data.get("check", []):
        name, _, rest = line.partition(" ")
        status, _, detail = rest.partition(" ")
        fix = FIXES.get("venv-uv" if name == "venv" and cfg.installer == "uv" else name, "")
        out.append(Finding(result.host, name, status == "ok", detail.strip(),
                           "" if status == "ok" else fix))
    if not result.ok:
        out.append(Finding(result.host, "script", False, result.reason))
    return out
