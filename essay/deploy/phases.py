"""Running a deploy's scripts across the hosts: in one phase, or in three around the
release command.

Without ``[deploy] release``: one script per host (install, start, health, ...), one round
trip each. With it: install everywhere -> the release command once, on the first web host
-> start everywhere: one round trip per host per phase (two per host, three on the first).
If any host fails to install, or the release command fails, no host starts anything: the
colour's processes keep running what they ran (its venv holds the new version).
"""
from __future__ import annotations

from essay.deploy.commands import (Target, deploy_script, install_script, release_script,
                                   start_script)
from essay.remote.script import HostResult


def _merge(first: HostResult, then: HostResult) -> HostResult:
    data = {k: [*first.data.get(k, []), *then.data.get(k, [])]
            for k in {*first.data, *then.data}}
    return HostResult(host=first.host, ok=then.ok, steps=[*first.steps, *then.steps],
                      data=data, error=then.error, seconds=first.seconds + then.seconds,
                      output=first.output + then.output, dry_run=then.dry_run)


def _not_started(r: HostResult, why: str) -> HostResult:
    return HostResult(host=r.host, ok=False, steps=r.steps, data=r.data, seconds=r.seconds,
                      output=r.output, error=f"{r.host}: not started: {why}",
                      dry_run=r.dry_run)


def release_host(cfg, targets: dict[str, Target]) -> str:
    """Where the release command runs: the first web host of the deploy."""
    return next((h for h, t in targets.items() if t.web), next(iter(targets)))


def run(ex, cfg, targets: dict[str, Target]) -> tuple[dict[str, HostResult],
                                                        HostResult | None]:
    """Deploy ``targets``; returns ({host: result}, the release's result or None)."""
    if not cfg.release:
        return ex.run({h: deploy_script(cfg, t) for h, t in targets.items()}), None
    installed = ex.run({h: install_script(cfg, t) for h, t in targets.items()})
    failed = [h for h, r in installed.items() if not r.ok]
    if failed:
        why = f"the install failed on {', '.join(failed)}"
        return {h: r if not r.ok else _not_started(r, why) for h, r in installed.items()}, None
    where = release_host(cfg, targets)
    released = ex.run({where: release_script(cfg, targets[where])})[where]
    if not released.ok:
        why = f"the release command failed on {where}"
        return {h: _merge(r, released) if h == where else _not_started(r, why)
                for h, r in installed.items()}, released
    started = ex.run({h: start_script(cfg, t) for h, t in targets.items()})
    return {h: _merge(_merge(installed[h], released) if h == where else installed[h], r)
            for h, r in started.items()}, released
