"""What a flip or a rollback runs on one lb host: one script, one round trip.

Steps (the lock is taken first and released at exit by :func:`essay.state.lb_script`):

1. target  -- which colour: the one asked for, or for a rollback the previous one (or the
              canary's base); refuse if nothing is deployed there or there is no previous
2. health  -- every process of the target colour on every web host answers 200, checked
              from the lb itself (the path nginx will use), with the version recorded for
              that colour; refuse naming the unhealthy
3. site    -- the rendered site file must be the one there; if not (first flip, hosts,
              ports or template changed) stop before any marker moves (exit 10): the
              caller applies it on every lb first (:mod:`essay.flip.apply`, a reload)
4. switch  -- the marker nginx reads, by rename: no reload, ever
5. verify  -- through nginx: it now serves the target (X-Essay-Color); if not, put back
6. record  -- state (live, previous) and history

A canary (``--weight``) switches the marker to a snapshot in which PCT of the 100
request buckets go to the target colour: no reload either.
"""
from __future__ import annotations

from essay import health
from essay.remote import hosts as hostmod
from essay.remote.script import Step
from essay.remote.shell import HOME_TOKEN, q, qpath
from essay.state import lb_script

NO_PREVIOUS, NOTHING_DEPLOYED, UNHEALTHY, NO_CANARY = 4, 5, 3, 8
NOT_FOLLOWED, SITE_CHANGED = 9, 11   # 6, 7, 10: essay.flip.apply (nginx test, reload, not ours)


def target_step(cfg, color: str | None, weight: int | None, rollback: bool) -> Step:
    lines = ['es_snap snap; from=$snap; case "$snap" in canary-*) from=${snap##*-};; esac',
             'essay_set FROM "$from"; essay_set SNAP_BEFORE "$snap"; es_getv prev previous',
             'essay_data snap_before "$snap"; essay_data prev_before "$prev"']
    if rollback:
        lines += [
            'case "$snap" in',
            '  canary-*) to=$from;;',
            '  *) to=$prev',
            '     if [ -z "$to" ] || [ "$to" = "$from" ]; then',
            '       echo "no previous colour to roll back to (nothing was flipped before)"',
            f'       exit {NO_PREVIOUS}',
            '     fi;;',
            'esac']
    else:
        lines.append(f"to={q(color)}")
    lines += [
        'essay_set TO "$to"; essay_data target "$to"; essay_data from "$from"',
        # a deploy that failed on some hosts left the colour incomplete (essay.deploy.retry)
        'es_getv inc "incomplete_$to"',
        'if [ -n "$inc" ]; then',
        '  echo "colour $to is incomplete: the last deploy into it failed on $inc; refusing to'
        ' flip (es deploy VERSION --retry-failed deploys to them again)"',
        f'  exit {UNHEALTHY}',
        'fi',
        'es_getv version "version_$to"',
        'if [ -z "$version" ]; then',
        '  echo "nothing is deployed in colour $to (es deploy VERSION --color $to)"',
        f'  exit {NOTHING_DEPLOYED}', "fi",
        'essay_data version "$version"']
    if weight:
        lines += ['if [ -z "$from" ]; then',
                  '  echo "no colour is live yet: a canary needs one live (es flip COLOR first)"',
                  f'  exit {NO_CANARY}', "fi",
                  'if [ "$to" = "$from" ]; then',
                  '  echo "colour $to is already live: a canary needs another colour live"',
                  f'  exit {NO_CANARY}', "fi",
                  f'essay_set SNAP "$(es_canary "$to" {int(weight)} "$from")"']
    else:
        lines.append('es_plain "$to" >/dev/null; essay_set SNAP "$to"')
    return Step("target", "\n".join(lines))


def health_step(cfg) -> Step:
    """Every process of $TO on every web host, checked from this lb."""
    cases = []
    web = cfg.hosts("web")
    hostmod.prefetch(web)
    names = ", ".join(f"{h} = {hostmod.address(h)}" for h in web)
    for color, ports in cfg.ports.items():
        urls = health.urls([hostmod.address(h) for h in web], ports, cfg.health_path)
        why = f"colour {color} is not healthy: refusing to flip (web hosts: {names})"
        check = health.check("python3 -I -S", urls, 5, version_word='"$version"',
                             host=cfg.health_host)
        cases.append(f"  {q(color)}) {check} || "
                     f"{{ echo {q(why)}; exit {UNHEALTHY}; }};;")
    cases.append('  *) echo "colour $TO is not in essay.toml [colors]: refusing to flip"; '
                 f'exit {UNHEALTHY};;')
    return Step("health", 'es_getv version "version_$TO"\ncase "$TO" in\n' + "\n".join(cases)
                + "\nesac")


def site_step(cfg, content: str) -> Step:
    """Is the site file on this lb what essay renders now? If not, the flip stops before
    any marker moves: a site change needs a reload, applied first and on every lb at
    once by :mod:`essay.flip.apply` (``es nginx apply``)."""
    import base64

    site = qpath(cfg.nginx_site)
    b64 = q(base64.b64encode(content.encode()).decode())
    return Step("site", "\n".join([
        f"if essay_render {b64} | cmp -s - {site}; then",
        '  echo "site config unchanged"',
        "else",
        '  echo "the site config differs from what essay renders now: a flip would reload '
        'nginx; apply it first (es nginx apply)"',
        f"  exit {SITE_CHANGED}",
        "fi"]))


def switch_step() -> Step:
    return Step("switch", 'es_switch "$SNAP"; es_livev live; essay_data live "$live"')


def verify_step(cfg) -> Step:
    """Through nginx: does it now serve $TO? (A worker that cannot read the marker keeps
    serving the old colour.) If not, the marker is put back."""
    host = "" if cfg.nginx_server_name in ("_", "") else cfg.nginx_server_name.split()[0]
    defs, call = health.serves(cfg.nginx_listen, cfg.health_path, host, '"$TO"')
    return Step("verify", "\n".join([
        defs,
        f'if ! {call}; then',
        '  [ -n "$SNAP_BEFORE" ] && es_switch "$SNAP_BEFORE" || rm -f "$ESSAY_STATE/live"',
        '  echo "the live colour is put back; can nginx\'s worker user read $ESSAY_STATE? '
        '(see nginx\'s error.log)"',
        f"  exit {NOT_FOLLOWED}", "fi"]))


def record_step(command: str, weight: int | None) -> Step:
    if weight:
        put = f'es_put "live=$FROM" "canary=$TO" "weight={int(weight)}"'
        what = f'"$TO at {int(weight)}%"'
    else:
        put = ('if [ "$TO" != "$FROM" ]; then es_put "live=$TO" "previous=$FROM" canary= weight=; '
               'else es_put "live=$TO" canary= weight=; fi')
        what = '"$TO"'
    return Step("record", f"{put}\nes_getv version \"version_$TO\"\n"
                          f"es_history {q(command)} \"$FROM\" {what} ok \"$version\"")


_WHY = {NO_PREVIOUS: "refused: no previous colour",
        NOTHING_DEPLOYED: "refused: nothing deployed there",
        UNHEALTHY: "refused: not healthy", SITE_CHANGED: "site config changed: apply first",
        NO_CANARY: "refused: no canary possible",
        NOT_FOLLOWED: "nginx did not follow the marker; put back"}


def flip_script(cfg, op, command: str, site: str, color: str | None = None,
                weight: int | None = None, rollback: bool = False, keep_lock: bool = False):
    steps = [target_step(cfg, color, weight, rollback), health_step(cfg), site_step(cfg, site),
             switch_step()]
    steps += [] if weight else [verify_step(cfg)]
    steps.append(record_step(command, weight))
    why = " ".join(f"{rc}) why={q(text)};;" for rc, text in _WHY.items())
    failed = (f'case "$__rc" in {why} *) why="failed (exit $__rc)";; esac; '
              f'[ "$__rc" = {SITE_CHANGED} ] || '   # not a failure: the caller applies, retries
              f'es_history {q(command)} "${{FROM:-}}" "${{TO:-{color or "?"}}}" failed '
              '"$why; live unchanged"')
    return lb_script(cfg, op, f"{command} on lb", steps, keep_lock=keep_lock, on_failure=failed,
                     progress=True)


def revert_script(cfg, op, command: str, snapshot: str, previous: str, live: str):
    """Put an lb back to what it had before a flip that failed elsewhere."""
    lines = [f"es_switch {q(snapshot)}" if snapshot else 'rm -f "$ESSAY_STATE/live"',
             f"es_put {q('live=' + live)} {q('previous=' + previous)}",
             f"es_history {q(command)} - {q(live or '-')} reverted "
             "\"another lb failed; put back\""]
    return lb_script(cfg, op, f"{command}: revert", [Step("revert", "\n".join(lines))])


__all__ = ["flip_script", "revert_script", "HOME_TOKEN"]
