"""``es promote --from staging --to production [VERSION] [--force] [--flip]``.

Deploys into the target environment's idle colour the version live in the source
environment (or VERSION, which must be live or previous there: a tested version), with
the same deploy as ``es deploy`` (health-gated, under the target's lock); ``--flip`` then
flips the target like ``es flip``. Both environments' histories record the promotion.

Round trips: one per source lb (read its state), the deploy's (two per target lb, one
per target web host), one per target lb with ``--flip``, one per source lb (history).
"""
from __future__ import annotations

from essay import versions
from essay.deploy.cli import deploy
from essay.errors import EssayError, UsageError
from essay.flip.cli import _report, switch
from essay.lb import LbSession
from essay.remote.script import Step
from essay.remote.shell import q
from essay.state import Operation, lb_script
from essay.validate import check_message


def tested(ctx) -> tuple[str, str]:
    """(live version, previous version) in the environment of ``ctx``, from its lbs."""
    cfg = ctx.cfg
    if not cfg.hosts("lb"):
        raise UsageError(f"environment {cfg.env} has no lb hosts: nothing is live there "
                         "to promote")
    with ctx.executor() as ex:
        session = LbSession(ctx, ex, "promote")
        states = session.begin(read_only=True)
        live = session.live
    state = next(iter(states.values()))
    previous = state.previous
    return (state.version(live) if live else "",
            state.version(previous) if previous and previous != live else "")


def choose_version(src_cfg, live: str, previous: str, version: str | None,
                   force: bool) -> str:
    """The version to promote: refused if not live or previous in the source, unless
    ``force``."""
    if not version:
        if not live:
            raise UsageError(f"nothing is live in {src_cfg.env}: deploy and flip there "
                             "first, or name a VERSION (with --force)")
        return live
    resolved = versions.resolve(src_cfg.index_url, src_cfg.name, version)
    if resolved not in (live, previous) and not force:
        raise UsageError(f"{resolved} was not tested in {src_cfg.env} (live there: "
                         f"{live or 'none'}, previous: {previous or 'none'}); promote a "
                         "tested version, or add --force")
    return resolved


def record_source(src, version: str, to: str, color: str, outcome: str):
    """One history line on the source environment's lbs (no lock: it changes no state)."""
    cfg = src.cfg
    detail = f"{version} to {to}" + (f" colour {color}" if color else "")
    step = Step("record", f"es_history promote - - {q(outcome)} {q(detail)}")
    script = lb_script(cfg, Operation("promote"), "promote: record", [step], lock=False)
    with src.executor() as ex:
        results = ex.run({h: script for h in cfg.hosts("lb")})
    for r in results.values():
        if not r.ok:
            src.reporter.warn(f"{r.host}: could not record the promotion in {cfg.env}'s "
                              f"history: {r.error}")


def cli_promote(ctx, from_, to, version=None, force=False, flip=False, message=None) -> int:
    if message:
        check_message(message)
    if not from_ or not to:
        names = ", ".join(ctx.cfg.env_names) or "none: essay.toml has no [env.NAME]"
        raise UsageError(f"es promote needs --from ENV and --to ENV (environments: {names})")
    if from_ == to:
        raise UsageError(f"--from and --to are both {from_!r}: promote between two "
                         "environments")
    src, dst = ctx.for_env(from_), ctx.for_env(to)
    _ = (src.cfg, dst.cfg)   # both names checked (unknown: refused with the list) first
    live, previous = tested(src)
    version = choose_version(src.cfg, live, previous, version, force)
    rep = ctx.reporter
    rep.info(f"promoting {src.cfg.name} {version} from {from_} to {to}")
    with dst.executor() as ex:
        session = LbSession(dst, ex, "promote", message or "")
        session.begin()
        try:
            code, color, resolved = deploy(dst, version, session=session)
        except BaseException:
            session.end("promote", "", "", "failed", f"{version} from {from_}")
            try:   # the source's history says so too (best effort: the error comes first)
                record_source(src, version, to, "", "failed")
            except Exception as e:
                rep.warn(f"could not record the failed promotion in {from_}'s history: {e}")
            raise
        detail = f"{resolved} from {from_}"
        if code != 0:
            session.end("promote", "", color, "failed", detail)
            record_source(src, resolved, to, color, "failed")
            raise EssayError(f"promote: the deploy of {resolved} into {to}'s colour {color} "
                             "failed; nothing was flipped")
        session.end("promote", "", color, "ok", detail, versions={color: resolved}, keep=flip)
        record_source(src, resolved, to, color, "ok")
        if flip:
            session.held = False   # the flip takes over the lock and releases it
            results = switch(dst, "flip", color, op=session.op)
            _report(dst, results, f"promoted {resolved} to {to}, live")
            return 0
    rep.outcome(f"{resolved} from {from_} is in {to}'s colour {color}; "
                f"`es -e {to} flip {color}` sends traffic to it")
    return 0
