"""``es release``: build -> publish -> deploy to the idle colour -> flip -> watch.

Each stage is printed as it starts and ends. After the flip (or canary weight) the new
colour is watched from the lb hosts for ``[release] grace`` seconds; if it turns
unhealthy, essay flips back by itself and exits non-zero. The lock is held from start
to end, so nobody else deploys or flips in between.
"""
from __future__ import annotations

from contextlib import contextmanager

from essay import health
from essay.build import build, resolve_ref
from essay.deploy.cli import deploy
from essay.errors import EssayError
from essay.flip.cli import _lbs, switch
from essay.lb import LbSession
from essay.output import Timer
from essay.remote import hosts as hostmod
from essay.remote.script import Step
from essay.state import lb_script
from essay.validate import check_message, check_weight


@contextmanager
def stage(rep, name: str):
    timer = Timer()
    rep.info(f"==> {name}")
    try:
        yield
    except BaseException:
        rep.info(f"<== {name}: failed after {timer.seconds:.1f}s")
        raise
    rep.info(f"<== {name}: done in {timer.seconds:.1f}s")


def watch_script(cfg, op, color: str, seconds: float):
    urls = health.urls([hostmod.address(h) for h in cfg.hosts("web")], cfg.ports[color],
                       cfg.health_path)
    return lb_script(cfg, op, f"watch {color}", [Step(f"watch {color}", health.watch(
        "python3", urls, seconds, host=cfg.health_host))], keep_lock=True, progress=True)


def cli_release(ctx, ref="HEAD", weight=None, message=None) -> int:
    cfg, rep = ctx.cfg, ctx.reporter
    if weight is not None:
        check_weight(weight)
    if message:
        check_message(message)
    _lbs(cfg)
    resolve_ref(cfg.root, ref)  # a ref that does not exist: refused before anything is locked
    total = Timer()
    with ctx.executor() as ex:
        session = LbSession(ctx, ex, "release", message or "")
        with stage(rep, "lock"):
            session.begin()
        before, color, version = session.live, "", ""
        try:
            with stage(rep, "build and publish"):
                version = build(ctx, ref)
            with stage(rep, f"deploy {version}"):
                code, color, version = deploy(ctx, version, session=session)
                if code != 0:
                    raise EssayError(f"the deploy of {version} into {color} failed; "
                                     "nothing was flipped")
                session.end("deploy", "", color, "ok", version, versions={color: version},
                            keep=True)
            with stage(rep, f"flip to {color}" + (f" at {weight}%" if weight else "")):
                switch(ctx, "flip", color, weight, op=session.op, keep_lock=True)
            with stage(rep, f"watch {color} for {cfg.release_grace:g}s"):
                results = ex.run({h: watch_script(cfg, session.op, color, cfg.release_grace)
                                  for h in _lbs(cfg)})
            bad = [r for r in results.values() if not r.ok]
            if bad:
                with stage(rep, f"flip back to {before or 'the previous colour'}"):
                    switch(ctx, "rollback", rollback=True, op=session.op, keep_lock=True)
                session.end("release", before, color, "rolled back",
                            f"{version} turned unhealthy: {bad[0].error}")
                rep.outcome(f"{version} turned unhealthy after the flip and was rolled back: "
                            f"{bad[0].error}", ok=False)
                return 1
        except BaseException as e:
            session.end("release", before, color, "failed", f"{version or ref}: {e}"[:200])
            raise
        session.end("release", before, color, "ok", version)
    rep.outcome(f"released {cfg.name} {version}: colour {color} is live"
                + (f" for {weight}% of requests" if weight else "")
                + f" ({total.seconds:.1f}s)")
    ctx.reporter.print(version)
    return 0
