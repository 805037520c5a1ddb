"""``es deploy VERSION``: a version into one colour on every web host, in parallel.

Round trips: one per web host (the whole deploy is one script) -- with ``[deploy]
release``, one per host per phase (essay.deploy.phases) -- plus two per lb host (take the
lock and read which colour is live; record the deploy and release the lock).
"""
from __future__ import annotations

from essay import config
from essay import hooks as hookmod
from essay import render, versions
from essay.conf_check import check_own_supervisord
from essay.deploy import phases, retry
from essay.deploy.commands import Target
from essay.errors import EssayError, UsageError
from essay.lb import LbSession
from essay.output import Timer
from essay.remote import summary
from essay.validate import check_color, check_host, check_message, check_profile


def deploy_hosts(cfg, role: str, hosts: str | None, reporter=None) -> list[str]:
    """The hosts a deploy goes to: ``pick_hosts``, plus -- for the default role ``web`` and
    no ``--hosts`` -- the ``worker`` hosts that are not web hosts (they run workers only)."""
    chosen = pick_hosts(cfg, role, hosts, reporter)
    if role == "web" and hosts is None:
        chosen += [h for h in cfg.worker_hosts() if h not in chosen]
    return chosen


def pick_hosts(cfg, role: str, hosts: str | None, reporter=None) -> list[str]:
    """The hosts a command works on: ``--hosts`` (each checked; those in no ``[roles]``
    role named in a warning), else the role's."""
    if hosts is not None:
        chosen = [check_host(h.strip()) for h in hosts.split(",") if h.strip()]
        known = {h for hs in cfg.roles.values() for h in hs}
        strangers = [h for h in chosen if h not in known]
        if strangers and reporter is not None:
            reporter.warn(f"--hosts names {', '.join(strangers)}, in no role of essay.toml "
                          f"[roles]; going ahead")
        if not chosen:
            raise UsageError(f"--hosts {hosts!r} names no host: expected host[,host...]")
    else:
        if role not in cfg.roles:
            raise UsageError(f"no role {role!r} in essay.toml [roles]; roles: "
                             f"{', '.join(cfg.roles) or 'none'}")
        chosen = cfg.hosts(role)
    if not chosen:
        raise UsageError(f"no hosts to deploy to (role {role!r} is empty)")
    return chosen


def choose_color(cfg, color: str | None, live: str, force: bool, canary: str = "") -> str:
    """The colour to deploy into: ``color``, else the one neither live nor taking canary
    traffic. Refuses the live colour and the canary colour (both serve users) unless
    ``force``."""
    if color is not None:
        check_color(color, list(cfg.colors))
    elif live and canary and not [c for c in cfg.colors if c not in (live, canary)]:
        es = f"es -e {cfg.env}" if getattr(cfg, "env", None) else "es"
        if force:
            raise UsageError(f"no colour is idle ({live} is live, {canary} takes canary "
                             "traffic): with --force, name the one to deploy into with "
                             "--color")
        raise UsageError(f"no colour is idle: {live} is live and {canary} takes canary "
                         f"traffic, so a deploy would change what users are served. End "
                         f"the canary first: `{es} rollback` ({live} alone) or `{es} flip "
                         f"{canary}` (all to {canary}), then deploy")
    else:
        color = next((c for c in cfg.colors if c not in (live, canary)), cfg.first_color()) \
            if live else cfg.first_color()
    if live and color == live and not force:
        raise UsageError(f"colour {color} is live: deploying into it would change what "
                         "users are served. Deploy into the idle colour, or add --force")
    if canary and color == canary and not force:
        raise UsageError(f"colour {color} takes canary traffic: deploying into it would "
                         "change what users are served. `es rollback` ends the canary; or "
                         "add --force")
    return color


def canary_color(session) -> str:
    """The colour taking canary traffic on any lb ('' if none)."""
    return next((s.canary[0] for s in session.states.values() if s.canary), "")


def deploy(ctx, version: str, color=None, profile=None, role="web", hosts=None,
           parallel=None, dry_run=False, force=False, message="",
           session: LbSession | None = None, retry_failed=False) -> tuple[int, str, str]:
    """Deploy; returns (exit status, colour, version). ``session``: an lb session a caller
    (``es release``) already holds; otherwise this deploy opens and closes its own.
    ``retry_failed``: only the hosts the last deploy failed on (:mod:`essay.deploy.retry`)."""
    cfg, rep = ctx.cfg, ctx.reporter
    config.require(cfg)   # environments and none chosen: refused before asking the index
    if color is not None:  # refused before any round trip, even the lb's
        check_color(color, list(cfg.colors))
    profile = check_profile(profile or cfg.profile)
    pick = deploy_hosts if cfg.workers else pick_hosts
    targets = retry.plan(cfg, None, color, hosts)[1] if retry_failed else \
        pick(cfg, role, hosts, rep)   # nothing to retry: refused before asking the index
    for h in targets:   # a template that ignores [workers]: refused before any round trip
        render.check_workers(cfg, h, render.supervisord_conf(
            cfg, h, color or cfg.first_color(), version, profile, *_roles(cfg, h)))
    for line in check_own_supervisord(cfg):
        rep.warn(line)
    resolved = versions.resolve(cfg.index_url, cfg.name, version)
    if retry_failed:
        color, targets = retry.plan(cfg, resolved, color, hosts)
    project_hooks = hookmod.load(cfg.root)
    own = session is None
    with ctx.executor(dry_run=dry_run, parallel=parallel) as ex:
        session = session or LbSession(ctx, ex, "deploy", message)
        if own:
            session.begin(read_only=dry_run)
        try:
            color = choose_color(cfg, color, session.live, force, canary_color(session))
            rep.info(f"deploying {cfg.name} {resolved} into colour {color} on "
                     f"{len(targets)} host(s): {summary.names(targets)}")
            timer = Timer()
            results, released = phases.run(ex, cfg, {
                h: _target(cfg, h, color, resolved, profile, session.op.user, project_hooks,
                           live=color == session.live) for h in targets})
        except BaseException:
            if own:
                session.end("deploy", "", "", "failed", "interrupted or refused")
            raise
        failed = [r for r in results.values() if not r.ok]
        if not dry_run:
            rep.table(["host", "colour", "version", "result", "seconds", "reason"],
                      [[r.host, color, resolved, "ok" if r.ok else "FAILED", f"{r.seconds:.1f}",
                        summary.reason(r)] for r in summary.failed_first(results)])
            rep.print(summary.counts(results))
        if released is not None and released.ok and not dry_run:
            rep.info(f"release command ran on {released.host}:")
            for line in (released.steps[0].output.strip() if released.steps else "").splitlines():
                rep.print(f"  {line}")
        for r in failed:
            if released is None or released.ok or r.host == released.host:
                rep.print(f"\n{failure(r)}")
        unversioned = [h for h, r in results.items()
                       if r.ok and any(v.endswith(" ?") for v in r.data.get("healthy", []))]
        if unversioned:
            rep.warn(f"{', '.join(unversioned)}: {cfg.health_path} answers without a version, "
                     "so deploy and flip can only check for a 200, not for this version; "
                     'make it answer JSON with "version" (docs/deploy.md#health-without-a-version)')
        outcome = "failed" if failed else "ok"
        detail = f"{len(results) - len(failed)} of {len(results)} hosts ok; failed: " \
            f"{', '.join(r.host for r in failed)}" if failed else \
            f"{len(results)} of {len(results)} hosts ok in {timer.seconds:.1f}s"
        if retry_failed:
            detail = f"retry of the failed hosts: {detail}"
        if not dry_run:
            missing = retry.save(cfg, resolved, color, results,
                                 {h: summary.outcome(r) for h, r in results.items()},
                                 retry_failed)
        if own and not dry_run:
            session.end("deploy", "", color, outcome, f"{resolved}: {detail}",
                        versions=None if missing else {color: resolved},
                        state={f"incomplete_{color}": " ".join(missing)})
    if dry_run:
        rep.outcome(f"dry run: nothing changed ({len(results)} host(s) shown)")
        return 0, color, resolved
    if released is not None and not released.ok:
        rep.outcome(f"deploy of {resolved} into {color} failed: the release command failed on "
                    f"{released.host}; nothing was restarted on any host (colour {color} runs "
                    "what it ran before), the live colour was not touched", ok=False)
        return 1, color, resolved
    if failed:
        rep.outcome(f"deploy of {resolved} into {color} failed on "
                    f"{', '.join(r.host for r in failed)}; the live colour was not touched; "
                    f"`es deploy {resolved} --retry-failed` retries only them", ok=False)
        return 1, color, resolved
    rep.outcome(f"{cfg.name} {resolved} is in colour {color} on {len(results)} host(s) "
                f"({timer.seconds:.1f}s); `es flip {color}` sends traffic to it")
    return 0, color, resolved


def failure(r) -> str:
    """What failed on one host, for the user: the failing step and its output. A failed
    health check shows all of it (each process's last answer, supervisor's view of the
    programs, the logs' tails); other steps their last lines (pip's error, a hook's)."""
    step = r.failed_step
    if step is not None and step.name == "health" and step.rc is not None:
        text = f"health failed (exit {step.rc}):\n{step.output.strip()}"
    else:
        text = None
    return r.message(text)


def _roles(cfg, host) -> tuple[bool, bool]:
    """(serves: a web host, or in no role -- ``--hosts``; runs the workers)."""
    return host in cfg.hosts("web") or host not in cfg.worker_hosts(), \
        host in cfg.worker_hosts()


def _target(cfg, host, color, version, profile, user, project_hooks, live=False) -> Target:
    web, workers = _roles(cfg, host)
    t = Target(host=host, color=color, version=version, profile=profile, user=user, live=live,
               web=web, supervisord_conf=render.supervisord_conf(cfg, host, color, version,
                                                                 profile, web, workers))
    pre = [c for c in (*cfg.pre_deploy, *hookmod.commands(project_hooks, "pre_deploy", cfg, t))
           if c.strip()]   # an empty command would be a shell syntax error: `( )`
    post = [c for c in (*cfg.post_deploy, *hookmod.commands(project_hooks, "post_deploy", cfg,
                                                             t)) if c.strip()]
    return Target(**{**t.__dict__, "pre_deploy": tuple(pre), "post_deploy": tuple(post)})


def cli_deploy(ctx, version, color=None, profile=None, role="web", hosts=None, parallel=None,
               dry_run=False, force=False, message=None, retry_failed=False) -> int:
    if parallel is not None and parallel < 1:
        raise UsageError("--parallel must be at least 1")
    if message:
        check_message(message)
    code, _, _ = deploy(ctx, version, color, profile, role, hosts, parallel, dry_run, force,
                        message or "", retry_failed=retry_failed)
    return code


__all__ = ["deploy", "cli_deploy", "EssayError"]
