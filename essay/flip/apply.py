"""``es nginx apply``: a changed site file onto every lb, all or nothing, as its own step.

A site change needs a reload, and a reload can drop an idle keep-alive client; so it is
never a side effect of a flip. Round trips, all lbs in parallel each time:

1. stage   -- lock; render the site; if it differs from ``[nginx] site``: keep the old one
              as ``SITE.essay-prev``, move the new one in, ``[nginx] test``. Failing
              anywhere: every lb that staged puts its old file back (nginx never loaded
              the new one) and nothing else happens.
2. reload  -- only when every lb staged: ``[nginx] reload`` where the file changed,
              waiting until nginx runs new workers (``[nginx] pid_file``), recorded in the history as ``nginx apply ... reload``. Failing anywhere:
3. restore -- every changed lb puts the previous file back and (if it had reloaded)
              reloads again: every lb serves the previous config.

``es flip``/``es rollback`` refuse to change the site themselves: they find it changed
(exit 10, before any marker moves) and then run this first, saying so.
"""
from __future__ import annotations

import base64
from importlib import resources

from essay import render
from essay.errors import EssayError
from essay.lb import raise_for
from essay.remote.script import Step
from essay.remote.shell import q, qpath
from essay.render import LEGACY_SITE_MARK, SITE_MARK
from essay.state import Operation, lb_script

NGINX_TEST, RELOAD, NO_PID, RELOAD_UNSEEN, NOT_OURS = 6, 7, 8, 12, 10
_PUT_BACK = ('if [ -f "$site.essay-prev" ]; then mv -f "$site.essay-prev" "$site"; '
             'else rm -f "$site"; fi')


def stage_step(cfg, content: str) -> Step:
    b64 = q(base64.b64encode(content.encode()).decode())
    not_ours = (f"[nginx] site {cfg.nginx_site} exists and essay did not write it (its first "
                f"line is not {SITE_MARK!r}...): not overwriting it; point [nginx] site at a "
                "file of its own")
    return Step("stage", "\n".join([
        f"site={qpath(cfg.nginx_site)}",
        # essay overwrites only its own rendered site: a file whose first line is its mark
        'if [ -e "$site" ] || [ -L "$site" ]; then',
        '  first=$(head -n 1 -- "$site" 2>/dev/null) || first=""',
        f'  case "$first" in {q(SITE_MARK)}*|{q(LEGACY_SITE_MARK)}*) ;;',
        f"    *) echo {q(not_ours)}; exit {NOT_OURS};;",
        "  esac",
        "fi",
        'essay_dir "$site"; mkdir -p -- "$__dir"',
        f'essay_render {b64} > "$site.essay-new"',
        'if cmp -s "$site.essay-new" "$site"; then',
        '  rm -f "$site.essay-new"; essay_data changed 0; echo "site config unchanged"',
        "else",
        '  if [ -f "$site" ]; then cp -p "$site" "$site.essay-prev"; else rm -f "$site.essay-prev"; fi',
        '  mv -f "$site.essay-new" "$site"',
        # its output kept, then shown: a closed channel (Ctrl-C) must not fail the test
        f"  __ok=1; __out=$( ( {cfg.nginx_test} ) 2>&1 </dev/null ) || __ok=0",
        '  printf "%s\\n" "$__out" || true',
        '  if [ "$__ok" = 0 ]; then',
        f"    {_PUT_BACK}",
        "    echo " + q(f"nginx config test failed ([nginx] test = {cfg.nginx_test!r}): the "
                       "previous site config is back, nginx untouched; if that command cannot "
                       "run on this host (sudo wanting a password?), change [nginx] test in "
                       "essay.toml"),
        f"    exit {NGINX_TEST}",
        "  fi",
        '  essay_set STAGED 1; essay_data changed 1; echo "site config written and tested"',
        "fi"]))


def nginx_reload(cfg) -> str:
    """Shell text: ``[nginx] reload``, then wait until nginx has finished it (new workers
    only: :file:`reload.sh`) -- a check right after is answered with the new config.
    Exit 7: the command failed; 8: ``[nginx] pid_file`` names no nginx; 12: no new workers
    within ``[nginx] reload_timeout``."""
    defs = resources.files("essay.flip").joinpath("reload.sh").read_text(encoding="utf-8")
    pid_file = qpath(cfg.nginx_pid_file) if cfg.nginx_pid_file else "''"
    return (f"{defs}\nes_nginx_reload {q(cfg.nginx_reload)} {pid_file} "
            f"{round(cfg.nginx_reload_timeout * 1000)} {cfg.nginx_reload_timeout:g}s")


def reload_step(cfg) -> Step:
    return Step("reload", "\n".join([
        nginx_reload(cfg),
        "essay_data reloaded 1",
        "es_history 'nginx apply' - - ok 'site config changed: nginx reloaded'"]))


def restore_step(cfg, reload: bool) -> Step:
    lines = [f"site={qpath(cfg.nginx_site)}", _PUT_BACK]
    if reload:
        lines.append(f"{nginx_reload(cfg)} || echo 'nginx reload failed again'")
    lines.append("es_history 'nginx apply' - - reverted 'another lb failed; previous site "
                 f"config put back{' and reloaded' if reload else ''}'")
    return Step("restore", "\n".join(lines))


def _run(ex, scripts: dict) -> dict:
    """``ex.run`` that does nothing for no hosts."""
    return ex.run(scripts) if scripts else {}


def _errors(results):
    for r in results.values():
        if not r.ok and r.failed_step is not None:
            r.error = f"{r.failed_step.name}: " + (r.failed_step.output.strip() or r.error)


def apply(ctx, ex, op: Operation, keep_lock: bool = False) -> list[str]:
    """Stage, then reload, the rendered site on every lb; returns the lbs reloaded.
    Raises (everything put back) if any lb fails. ``keep_lock``: the lock stays with
    ``op`` for a flip that follows."""
    cfg, rep = ctx.cfg, ctx.reporter
    lbs = cfg.hosts("lb")
    unlock = lb_script(cfg, op, "unlock", [])
    why = {NGINX_TEST: "nginx config test failed", NOT_OURS: "[nginx] site is not essay's file"}
    failed = ('case "$__rc" in ' + " ".join(f"{rc}) why={q(w)};;" for rc, w in why.items()) +
              ' *) why="failed (exit $__rc)";; esac; '
              "es_history 'nginx apply' - - failed \"refused: $why; site config and nginx "
              'unchanged"; ESSAY_LOCK_KEEP=0')     # failed here: release the lock at exit
    # essay gone (Ctrl-C) before the reload: nginx never loaded the new file, put it back
    abandoned = (f'if [ "${{STAGED:-0}}" = 1 ]; then site={qpath(cfg.nginx_site)}; {_PUT_BACK}; '
                 "es_history 'nginx apply' - - failed 'interrupted before the reload: previous "
                 "site config put back, nginx unchanged'; __handled=1; fi")
    staged = ex.run({h: lb_script(cfg, op, "nginx apply: stage",
                                  [stage_step(cfg, render.nginx_conf(cfg))], keep_lock=True,
                                  on_failure=failed, on_abandon=abandoned)
                     for h in lbs})
    changed = [h for h, r in staged.items() if r.ok and r.value("changed") == "1"]
    held = [h for h, r in staged.items() if r.ok]   # the lock kept for the next round trip
    if len(held) != len(lbs):
        for h in changed:
            rep.warn(f"{h}: putting the previous site config back, another lb failed")
        _run(ex, {h: lb_script(cfg, op, "nginx apply: put back", [restore_step(cfg, False)])
                  if h in changed else unlock for h in held})
        _errors(staged)
        raise_for(staged, "nginx apply")
    if not changed:
        if not keep_lock:
            ex.run({h: unlock for h in lbs})
        return []
    rep.info(f"site config changed on {', '.join(changed)}: nginx reloads there once")
    reloaded = ex.run({h: lb_script(cfg, op, "nginx apply: reload", [reload_step(cfg)],
                                    keep_lock=keep_lock) if h in changed else
                       (lb_script(cfg, op, "keep lock", [], keep_lock=True) if keep_lock
                        else unlock) for h in lbs})
    if all(r.ok for r in reloaded.values()):
        return changed
    for h in changed:
        rep.warn(f"{h}: putting the previous site config back, a reload failed")
    _run(ex, {h: lb_script(cfg, op, "nginx apply: put back",
                           [restore_step(cfg, reloaded[h].value("reloaded") == "1")])
              for h in changed})
    _run(ex, {h: unlock for h in lbs if h not in changed})
    _errors(reloaded)
    raise_for(reloaded, "nginx apply")
    raise EssayError("nginx apply failed")        # not reached: some lb failed above


def cli_apply(ctx, message=None, dry_run=False) -> int:
    from essay.flip.cli import _lbs
    from essay.validate import check_message

    if message:
        check_message(message)
    _lbs(ctx.cfg)
    ctx.connect_soon(("lb",), dry_run)
    op = Operation("nginx apply", message or "")
    with ctx.executor(dry_run=dry_run) as ex:
        reloaded = apply(ctx, ex, op)
    if dry_run:
        ctx.reporter.outcome("dry run: nothing changed")
    elif reloaded:
        ctx.reporter.outcome(f"site config applied: nginx reloaded on {', '.join(reloaded)}")
    else:
        ctx.reporter.outcome("site config unchanged on every lb: nothing to reload")
    return 0
