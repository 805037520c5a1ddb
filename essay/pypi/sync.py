"""``es pypi sync``: the project's requirements downloaded into the index, for the hosts'
Python and platform."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from essay.errors import EssayError

#: What every host needs besides the project itself.
HOST_REQUIREMENTS = ("supervisor",)


def project_requirements(root: Path) -> list[str]:
    """The project's install requirements, from pyproject.toml or (else) its metadata."""
    pyproject = root / "pyproject.toml"
    if pyproject.exists():
        data = tomllib.loads(pyproject.read_text())
        deps = data.get("project", {}).get("dependencies")
        if deps is not None and "dependencies" not in data.get("project", {}).get("dynamic", []):
            return list(deps)
    from build.util import project_wheel_metadata

    meta = project_wheel_metadata(root)
    return [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]


def sync_argv(dest: Path, packages, python_version=None, platforms=()) -> list[str]:
    """pip download's command line: with a Python version or platform tags of the hosts',
    binary only (pip cannot build an sdist for another interpreter), one ``--platform`` per
    tag (pip does not widen ``manylinux_2_36`` to older glibcs itself)."""
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
            "--dest", str(dest)]
    if python_version or platforms:
        argv += ["--only-binary=:all:"]
        argv += ["--python-version", python_version] if python_version else []
        for tag in platforms or ():
            argv += ["--platform", tag]
    return argv + list(packages)


#: What a host's plain python3 says about itself: version|platform|libc|libc version
PROBE = ("import platform, sysconfig\n"
         "print('|'.join([platform.python_version(), sysconfig.get_platform(), "
         "*platform.libc_ver()]))")


@dataclass(frozen=True)
class HostTarget:
    """What ``es pypi sync`` resolves for: the hosts' Python, their platform tags (None:
    unknown, this machine's), and where each came from."""
    python: str
    platforms: list[str] | None
    source: str


def parse_probe(line: str) -> tuple[str, list[str] | None, str]:
    """(Python version, platform tags or None, how the platform reads) from :data:`PROBE`'s
    line, e.g. ``3.11.2|linux-x86_64|glibc|2.36``."""
    from essay.wheels import platform_tags

    version, plat, libc, libc_version = (line.strip().split("|") + ["", "", "", ""])[:4]
    shown = f"{plat} {libc} {libc_version}".strip()
    return version, platform_tags(plat, libc, libc_version), shown


def hosts_target(ctx, python_version: str | None, platform: str | None) -> HostTarget:
    """The hosts' Python (``--python-version``, else ``[deploy] python_version``) and
    platform (``--platform``); what is not given, the first web host is asked (one round
    trip, its ``[deploy] python``). No web hosts: this machine."""
    cfg = ctx.cfg
    given = python_version or cfg.python_version
    where = "--python-version" if python_version else "[deploy] python_version"
    hosts = cfg.hosts("web")
    if (given and platform) or not hosts:
        return HostTarget(given or ".".join(map(str, sys.version_info[:3])),
                          [platform] if platform else None,
                          f"{where if given else 'this machine'}; platform "
                          + (f"--platform {platform}" if platform else "this machine's"))
    from essay.remote.script import Script, Step
    from essay.remote.shell import q

    script = Script("python and platform", (Step("probe", f'essay_data probe "$('
                                                          f'{q(cfg.python)} -c {q(PROBE)})"'),),
                    progress=False)
    with ctx.executor() as ex:
        r = ex.run({hosts[0]: script})[hosts[0]]
    if not r.ok or not r.value("probe"):
        raise EssayError(f"cannot ask {hosts[0]} which Python and platform it has ("
                         f"{r.error or 'no answer'}); give --python-version and --platform")
    version, tags, shown = parse_probe(r.value("probe"))
    asked = f"{hosts[0]}'s {cfg.python}"
    if platform:
        tags, shown = [platform], f"--platform {platform}"
    return HostTarget(given or version, tags,
                      f"{where if given else asked}; platform {shown}"
                      + ("" if platform else f" ({asked})" if tags else
                         f" ({asked}: not glibc Linux, this machine's tags used)"))


def cli_sync(ctx, packages=None, python_version=None, platform=None) -> int:
    """``es pypi sync``: wheels (and their dependencies) into the index's directory,
    resolved for the hosts' Python and platform; then what they cannot install is moved
    out (essay.wheels)."""
    from essay import wheels
    from essay.config.app import runtime_packages

    cfg = ctx.cfg
    packages = list(packages or []) or list(dict.fromkeys(
        [*project_requirements(cfg.root), *HOST_REQUIREMENTS, *runtime_packages(cfg)]))
    target = hosts_target(ctx, python_version, platform)
    try:
        version = wheels.parse_version(target.python)
    except ValueError as e:
        raise EssayError(f"the hosts' Python ({target.source}): {e}") from None
    from packaging import tags

    here = tuple(sys.version_info[:3])
    # pip here resolves as for the hosts (sdists allowed) when it is the same Python and
    # every wheel it could pick fits them; else binary only, for their version and tags
    native = version == here and (target.platforms is None
                                  or wheels.covers(list(tags.platform_tags()), target.platforms))
    dest = cfg.packages_dir
    dest.mkdir(parents=True, exist_ok=True)
    ctx.reporter.info(f"syncing {', '.join(packages)} into {dest} for Python {target.python} "
                      f"({target.source})" + ("" if native or not target.platforms else
                                              f"; wheels for {target.platforms[0]} and older"))
    before = set(os.listdir(dest))
    proc = subprocess.run(sync_argv(dest, packages, None if native else target.python,
                                    () if native else target.platforms or ()),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(("Collecting", "Saved", "File was already")):
            ctx.reporter.info("  " + line.strip())
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-10:])
        raise EssayError(f"pip download failed for {', '.join(packages)} (Python "
                         f"{target.python}):\n{tail}")
    pruned = wheels.prune(dest, version, target.platforms)
    for name, why in pruned:
        ctx.reporter.warn(f"moved out of the index: {name} (Python {target.python}: {why})")
    added = sorted(set(os.listdir(dest)) - before)
    for f in added:
        ctx.reporter.print(f)
    ctx.reporter.outcome(f"{len(added)} new file(s) in {dest} "
                         f"({len(os.listdir(dest))} in all)" +
                         (f"; {len(pruned)} the hosts cannot install moved to "
                          f"{dest.name}-pruned/" if pruned else ""))
    return 0
