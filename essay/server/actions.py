"""What a job may do, who may start it, and the confirmation that names what will change.

Every action but the push pipeline is one command of :data:`essay.commands.COMMANDS`, run
by :func:`essay.cli.run` exactly as ``es`` runs it: the server has no deploy, flip or
rollback of its own. Parameters are checked here, before a job is queued, with the same
checks the CLI uses.
"""
from __future__ import annotations

from dataclasses import dataclass

from essay.errors import UsageError
from essay.validate import check_color, check_weight


@dataclass(frozen=True)
class Action:
    name: str          # the job kind
    command: str       # the essay command it runs (essay.commands)
    role: str          # the least role that may start it
    title: str
    fields: tuple = ()


ACTIONS = {a.name: a for a in (
    Action("deploy", "deploy", "deployer", "Deploy a version into the idle colour",
           ("version",)),
    Action("flip", "flip", "deployer", "Flip (or canary) to a colour", ("color", "weight")),
    Action("rollback", "rollback", "deployer", "Roll back to the previous colour"),
    Action("release", "release", "deployer", "Release a git ref (build, deploy, flip)",
           ("ref",)),
    Action("promote", "promote", "deployer",
           "Promote the version tested in another environment into this one's idle colour",
           ("from", "flip")),
    Action("lock-break", "lock break", "admin", "Break a stale lock"),
)}


def check(ctx, kind: str, form: dict) -> dict:
    """The action's parameters from a form, checked; UsageError names what is wrong."""
    cfg = ctx.cfg
    if kind not in ACTIONS:
        raise UsageError(f"unknown action {kind!r}; actions: {', '.join(ACTIONS)}")
    p = {}
    if kind == "deploy":
        from essay import versions

        p["version"] = versions.resolve(cfg.index_url, cfg.name,
                                        (form.get("version") or "").strip() or "latest")
    if kind == "flip":
        p["color"] = check_color((form.get("color") or "").strip(), list(cfg.colors))
        weight = (form.get("weight") or "").strip()
        if weight:
            if not weight.isdigit():
                raise UsageError(f"weight is {weight!r}, expected a whole number from 1 to 99")
            p["weight"] = check_weight(int(weight))
    if kind == "promote":
        from essay.promote import choose_version, tested

        src = (form.get("from") or "").strip()
        if src not in cfg.env_names or src == cfg.env:
            raise UsageError(f"from is {src!r}, expected another environment: "
                             f"{', '.join(n for n in cfg.env_names if n != cfg.env) or 'none'}")
        live, previous = tested(ctx.for_env(src))
        p.update(from_=src, to=cfg.env,
                 flip=str(form.get("flip", "")).lower() in ("1", "on", "true"),
                 version=choose_version(ctx.for_env(src).cfg, live, previous,
                                        (form.get("version") or "").strip() or None, False))
    if kind == "release":
        from essay.build import resolve_ref

        ref = (form.get("ref") or "").strip() or "HEAD"
        resolve_ref(cfg.root, ref)
        p["ref"] = ref
    return p


def summary(cfg, kind: str, p: dict, lbs: dict, env: str) -> str:
    """One sentence naming what the job will change, from the lbs' state now."""
    from essay.status import live_of

    live, canary = live_of(lbs)
    state = next(iter(lbs.values()), None)
    version = (lambda c: (state.version(c) if state else "") or "nothing")
    idle = next((c for c in cfg.colors if c != live), cfg.first_color()) if live \
        else cfg.first_color()
    where = f" in environment {env}" if env else ""
    lb_hosts = ", ".join(cfg.hosts("lb")) or "no lb"
    web = ", ".join(cfg.hosts("web"))
    if kind == "deploy":
        return (f"install {cfg.name} {p['version']} into colour {idle} (idle, now "
                f"{version(idle)}) on {web}{where}; the live colour "
                f"{live or 'none'} keeps serving")
    if kind == "flip":
        share = f"{p['weight']}% of the requests" if p.get("weight") else "all requests"
        return (f"send {share} on {lb_hosts}{where} to colour {p['color']} "
                f"({version(p['color'])}); live now: {live or 'none'} ({version(live)})")
    if kind == "rollback":
        prev = state.previous if state else ""
        return (f"send all requests on {lb_hosts}{where} back to colour {prev or '?'} "
                f"({version(prev)}) from {live or 'none'} ({version(live)})")
    if kind == "release":
        return (f"build {p['ref']}, publish it, install it into colour {idle} on {web}, "
                f"then send all requests on {lb_hosts}{where} to it")
    if kind == "promote":
        return (f"install {cfg.name} {p['version']} (live in {p['from_']}) into colour {idle} "
                f"(idle, now {version(idle)}) on {web}{where}"
                + (f", then send all requests on {lb_hosts} to it" if p["flip"] else
                   f"; the live colour {live or 'none'} keeps serving"))
    if kind == "lock-break":
        held = "; ".join(f"{h}: {s.lock}" for h, s in lbs.items() if s.lock) or "nobody"
        return f"remove the lock on {lb_hosts}{where} (held by {held})"
    raise UsageError(f"unknown action {kind!r}")


def run(job, ctx, settings) -> int:
    """Run a job's action in ``ctx``; the exit status."""
    from essay.cli import run as run_command
    from essay.commands import find

    if job.kind == "pipeline":
        from essay.server.pipeline import run as pipeline

        return pipeline(job, ctx, settings)
    cmd = find(ACTIONS[job.kind].command)
    options = {a.dest: (False if a.flag else a.default) for a in cmd.args}
    options.update(job.args)
    if "message" in options:
        options["message"] = f"essay server job {job.id}"
    return run_command(cmd, options, ctx=ctx)
