"""``es flip COLOR [--weight PCT]`` and ``es rollback [--to VERSION]``.

One round trip per lb host: lock, check, switch, record, unlock -- in one script. With
several lb hosts they flip in parallel; if any fails, the ones that flipped are put back.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from essay.errors import EssayError, UsageError
from essay.validate import check_color, check_message, check_weight

if TYPE_CHECKING:
    from essay.state import Operation

# The rest is imported where it is used: a command validates its arguments, then starts
# connecting to the lbs (Context.connect_soon) while these load and the script is built.


def _lbs(cfg) -> list[str]:
    lbs = cfg.hosts("lb")
    if not lbs:
        raise UsageError("essay.toml [roles] has no lb hosts: there is no nginx to flip")
    return lbs


def switch(ctx, command: str, color: str | None = None, weight: int | None = None,
           rollback: bool = False, op: Operation | None = None, message: str = "",
           keep_lock: bool = False, dry_run: bool = False) -> dict:
    """Flip (or roll back) every lb host; returns {host: HostResult}. Raises on failure,
    after putting back any lb that had flipped. A changed site file is applied first, on
    every lb, as its own reload (:mod:`essay.flip.apply`), and the flip run again."""
    from essay import render
    from essay.conf_check import check_conf
    from essay.flip.commands import flip_script
    from essay.lb import raise_for
    from essay.remote import hosts as hostmod
    from essay.state import Operation

    cfg, rep = ctx.cfg, ctx.reporter
    lbs = _lbs(cfg)
    hostmod.prefetch(cfg.hosts("web"))   # their addresses, resolved while the rest is built
    for line in check_conf(cfg.root / "conf", cfg):   # old templates: keep-alive, new keys
        rep.warn(line)
    op = op or Operation(command, message)
    script = flip_script(cfg, op, command, render.nginx_conf(cfg), color, weight, rollback,
                         keep_lock=keep_lock)
    reloaded, where = [], {"stage": "flip"}
    with ctx.executor(dry_run=dry_run) as ex:
        try:
            results = ex.run({h: script for h in lbs})
            if dry_run:
                return results
            if _site_changed(results):
                where["from"] = next(iter(results.values())).value("from") or ""
                where["stage"] = "put back"
                _put_back(ctx, ex, op, command, results)   # lbs whose site was unchanged
                rep.warn("the nginx site config changed (first flip, hosts, ports or template): "
                         "applying it on every lb first, nginx reloads once (es nginx apply)")
                from essay.flip.apply import apply

                where["stage"] = "apply"
                reloaded = apply(ctx, ex, op, keep_lock=True)
                where["stage"] = "flip"
                results = ex.run({h: script for h in lbs})
            where["stage"] = "put back"
            _put_back(ctx, ex, op, command, results)
            _explain(results, command)
            raise_for(results, command)
            if not weight and cfg.workers:   # the live colour changed: workers move
                from essay import workers

                first = next(iter(results.values()))
                where.update(stage="workers", target=first.value("target") or "?")
                workers.after_flip(ctx, ex, first.value("from"), first.value("target"))
        except KeyboardInterrupt:
            raise KeyboardInterrupt(interrupted(command, where)) from None
    for h in reloaded:
        results[h].data.setdefault("reloaded", []).append("1")
    return results


def _explain(results, command: str):
    """Each failed lb's error: its failing step and that step's output."""
    for r in results.values():
        if not r.ok and r.failed_step is not None:
            step = r.failed_step
            out = step.output.strip()
            if step.name == "health":   # one line per failing process, not the healthy
                out = "\n".join(line for line in out.split("\n")
                                if not line.startswith("healthy "))
            r.error = f"{step.name}: " + (out or r.error)
            if step.name == "health" and command == "rollback":
                version = r.value("version") or "VERSION"   # what that colour last had
                r.error += ("\nto install that version again into the idle colour and "
                            f"go live with it: es rollback --to {version} "
                            "(es history shows what was live before)")


def interrupted(command: str, where: dict) -> str:
    """What a Ctrl-C during a flip leaves, as far as essay knows: what the lbs serve, or
    that it is unknown."""
    stage = where["stage"]
    if stage == "apply":   # the markers never move while the site config is applied
        served = f"colour {where['from']}" if where.get("from") else "no colour (none was live)"
        return (f"interrupted while applying the changed site config, before the {command}: "
                "each lb finishes that step by itself (a site config nginx has not loaded is "
                f"put back); no lb flipped: the lbs serve {served}, as before")
    if stage == "workers":
        return (f"interrupted after the {command}, while moving the workers: the lbs serve "
                f"colour {where['target']}; whether the workers moved is unknown: run "
                "`es status`")
    doing = "putting back the lbs that had flipped" if stage == "put back" else \
        f"the {command}: the lb hosts finish it by themselves (it goes through or is put back)"
    return f"interrupted during {doing}; what they serve now is unknown: run `es status`"


def _site_changed(results) -> bool:
    """Some lb stopped at the site step because the site file changed, none for a worse
    reason."""
    from essay.flip.commands import SITE_CHANGED

    codes = {r.failed_step.rc for r in results.values() if r.failed_step is not None}
    return SITE_CHANGED in codes and codes <= {SITE_CHANGED}


def _put_back(ctx, ex, op, command, results):
    """If some lbs flipped and others did not: put the ones that flipped back."""
    from essay.flip.commands import revert_script

    flipped = [r for r in results.values() if r.ok]
    if len(flipped) != len(results) and flipped:
        for r in flipped:
            ctx.reporter.warn(f"{r.host}: putting it back, another lb failed")
        ex.run({r.host: revert_script(ctx.cfg, op, command, r.value("snap_before", ""),
                                      r.value("prev_before", ""), r.value("from", ""))
                for r in flipped})


def _report(ctx, results, what: str):
    for host, r in results.items():
        reload = " (site config changed: nginx reloaded)" if r.value("reloaded") else ""
        ctx.reporter.info(f"{host}: {r.value('from') or 'none'} -> {r.value('target')} "
                          f"({r.value('version')}){reload}")
    any_r = next(iter(results.values()))
    ctx.reporter.outcome(f"{what}: colour {any_r.value('target')} ({any_r.value('version')}) "
                         f"on {len(results)} lb host(s)")


def cli_flip(ctx, color, weight=None, message=None, dry_run=False) -> int:
    check_color(color, list(ctx.cfg.colors))
    if weight is not None:
        check_weight(weight)
    if message:
        check_message(message)
    _lbs(ctx.cfg)
    ctx.connect_soon(("lb",), dry_run)
    results = switch(ctx, "flip", color, weight, message=message or "", dry_run=dry_run)
    if dry_run:
        ctx.reporter.outcome("dry run: nothing changed")
        return 0
    _report(ctx, results, f"{weight}% canary" if weight else "live")
    return 0


def cli_rollback(ctx, to=None, message=None, dry_run=False) -> int:
    if message:
        check_message(message)
    if to:
        from essay import config, versions

        config.require(ctx.cfg)   # before asking the index
        _lbs(ctx.cfg)
        # refuse a bad or unknown version before anything is locked on the lbs
        to = versions.resolve(ctx.cfg.index_url, ctx.cfg.name, to)
        ctx.connect_soon(("lb",), dry_run)
        return rollback_to(ctx, to, message or "", dry_run)
    _lbs(ctx.cfg)
    ctx.connect_soon(("lb",), dry_run)
    results = switch(ctx, "rollback", rollback=True, message=message or "", dry_run=dry_run)
    if dry_run:
        ctx.reporter.outcome("dry run: nothing changed")
        return 0
    _report(ctx, results, "rolled back, live")
    return 0


def rollback_to(ctx, version: str, message: str, dry_run: bool) -> int:
    """Install an older version into the idle colour, then flip to it."""
    from essay.deploy.cli import deploy
    from essay.lb import LbSession

    with ctx.executor(dry_run=dry_run) as ex:
        session = LbSession(ctx, ex, "rollback", message)
        session.begin(read_only=dry_run)
        try:
            code, color, resolved = deploy(ctx, version, session=session, dry_run=dry_run)
            if code != 0:
                raise EssayError(f"rollback to {resolved}: the deploy into {color} failed; "
                                 "nothing was flipped")
            if not dry_run:
                session.end("deploy", "", color, "ok", resolved, versions={color: resolved},
                            keep=True)
            session.held = False  # the flip below takes over the lock and releases it
            results = switch(ctx, "rollback", color, op=session.op, dry_run=dry_run)
        except BaseException:
            session.end("rollback", session.live, "", "failed", f"to {version}")
            raise
    if not dry_run:
        _report(ctx, results, f"rolled back to {resolved}, live")
    return 0
