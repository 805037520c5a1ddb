"""``es [-e NAME] secrets set|unset|list``: the environment's secrets on its web hosts
and its ``worker`` hosts (the workers get the secrets too).

``set`` and ``unset`` stage the new file on every such host, then commit it on every
host, or on none: if any host fails to stage, nothing is committed; if any fails to
commit, the hosts that did get their previous file back. A value is never printed, logged, put in
argv or in a ``--dry-run`` script. A change reaches the app at the next deploy of a
colour; ``--restart`` restarts the idle colour now (``--live`` the live one too) on the
web hosts (a worker-only host's workers read them when they next start: at a flip).
"""
from __future__ import annotations

import getpass
import secrets as _random
import sys

from essay.deploy.cli import deploy_hosts, pick_hosts
from essay.errors import EssayError, UsageError
from essay.remote.script import Script
from essay.secrets.commands import (abort_script, backup_path, commit_script, finish_script,
                                    list_script, restart_step, restore_script, stage_script)
from essay.secrets.host import check_name, secrets_path


def parse_pairs(pairs, stdin=None) -> dict[str, str]:
    """``KEY=VALUE`` words, or one bare ``KEY`` whose value is read from stdin (without
    echo on a terminal). Names are checked; a value is never part of an error."""
    stdin = stdin or sys.stdin
    values: dict[str, str] = {}
    bare = [p for p in pairs if "=" not in p]
    if bare and len(pairs) > 1:
        raise UsageError("es secrets set: give KEY=VALUE pairs, or one KEY alone (its value "
                         f"is read from stdin); got {len(pairs)} words with {bare[0]!r} bare")
    for p in pairs:
        name, eq, value = p.partition("=")
        check_name(name)
        if not eq:
            value = _read_value(name, stdin)
        if name in values:
            raise UsageError(f"es secrets set: {name} is given twice")
        values[name] = value
    return values


def _read_value(name: str, stdin) -> str:
    if stdin.isatty():
        value = getpass.getpass(f"{name} (not echoed): ")
    else:
        value = stdin.read()
        value = value[:-1] if value.endswith("\n") else value  # `echo x |` adds one
    if "\0" in value:
        raise UsageError(f"the value of {name} holds a NUL byte, which no environment "
                         "variable can hold")
    return value


def _change(ctx, values: dict, unset: list, restart: bool, live: bool, dry_run: bool,
            what: str) -> int:
    cfg, rep = ctx.cfg, ctx.reporter
    hosts = deploy_hosts(cfg, "web", None)
    token = _random.token_hex(8)
    with ctx.executor(dry_run=dry_run) as ex:
        if dry_run:  # the very scripts, values redacted
            ex.run({h: stage_script(cfg, token, values, unset, redact=True) for h in hosts})
            ex.run({h: commit_script(cfg, token) for h in hosts})
            rep.outcome(f"dry run: nothing changed ({len(hosts)} host(s) shown, values "
                        "redacted)")
            return 0
        staged = ex.run({h: stage_script(cfg, token, values, unset) for h in hosts})
        bad = [r for r in staged.values() if not r.ok]
        if bad:
            ex.run({r.host: abort_script(cfg, token) for r in staged.values() if r.ok})
            raise EssayError(f"{what}: not changed on any host; " +
                             "; ".join(f"{r.host}: {r.error}" for r in bad))
        done = ex.run({h: commit_script(cfg, token) for h in hosts})
        bad = [r for r in done.values() if not r.ok]
        if bad:
            raise EssayError(_put_back(ex, cfg, token, done, what))
        for r in ex.run({h: finish_script(cfg, token) for h in hosts}).values():
            if not r.ok:
                rep.warn(f"{r.host}: could not remove {backup_path(cfg, token)} (the previous "
                         f"values, mode 0600): {r.error}")
        if unset:
            gone = {n for r in staged.values() for n in r.data.get("removed", [])}
            for name in unset:
                if name not in gone:
                    rep.warn(f"{name} was not set on any host")
    rep.info(f"{what} on {len(hosts)} host(s), in {secrets_path(cfg)}")
    if restart:
        _restart(ctx, pick_hosts(cfg, "web", None), live)
    else:
        rep.info("it takes effect at the next deploy of a colour, or now with --restart")
    rep.outcome(f"{what}{' (environment ' + cfg.env + ')' if cfg.env else ''}")
    return 0


def _put_back(ex, cfg, token: str, done: dict, what: str) -> str:
    """After a failed commit: the previous file back on the hosts that committed, the
    staged file gone from those that did not. The error to raise."""
    committed = [h for h, r in done.items() if r.ok]
    failed = [r for r in done.values() if not r.ok]
    back = ex.run({**{h: restore_script(cfg, token) for h in committed},
                   **{r.host: abort_script(cfg, token) for r in failed}})
    stuck = [h for h in committed if not back[h].ok]
    why = "; ".join(f"{r.host}: {r.error}" for r in failed)
    if stuck:
        return (f"{what}: the commit failed ({why}); the previous values are back on "
                f"{len(committed) - len(stuck)} host(s) but NOT on {', '.join(stuck)} (it "
                "has the new ones): run it again")
    return (f"{what}: not changed on any host: the commit failed ({why})" +
            (f"; put the previous values back on {', '.join(committed)}" if committed else ""))


def _restart(ctx, hosts, live: bool):
    from essay.lb import LbSession

    cfg = ctx.cfg
    with ctx.executor() as ex:
        session = LbSession(ctx, ex, "secrets restart")
        session.begin(read_only=True)
        now = session.live
        colors = [c for c in cfg.colors if c != now or live]
        script = Script("secrets: restart", tuple(restart_step(cfg, c) for c in colors))
        results = ex.run({h: script for h in hosts})
    bad = [r for r in results.values() if not r.ok]
    if bad:
        raise EssayError("the secrets are set, but the restart failed: " +
                         "; ".join(f"{r.host}: {r.error}" for r in bad))
    restarted = sorted({c for r in results.values() for c in r.data.get("restarted", [])})
    ctx.reporter.info(f"restarted and healthy: colour(s) {', '.join(restarted) or 'none'}"
                      + ("" if live or not now else f" (live {now} not restarted: --live)"))


def cli_set(ctx, pairs, restart=False, live=False, dry_run=False) -> int:
    from essay import config

    if live and not restart:
        raise UsageError("--live goes with --restart (restart the live colour too)")
    config.require(ctx.cfg)                 # refused before a value is asked for
    pick_hosts(ctx.cfg, "web", None)
    values = parse_pairs(pairs)
    return _change(ctx, values, [], restart, live, dry_run, f"set {', '.join(values)}")


def cli_unset(ctx, names, restart=False, live=False, dry_run=False) -> int:
    if live and not restart:
        raise UsageError("--live goes with --restart (restart the live colour too)")
    for n in names:
        check_name(n)
    return _change(ctx, {}, list(dict.fromkeys(names)), restart, live, dry_run,
                   f"unset {', '.join(dict.fromkeys(names))}")


def cli_list(ctx) -> int:
    """Names, and whether every web and worker host has the same value (salted hashes
    computed on the hosts are compared; no value or hash is shown)."""
    cfg, rep = ctx.cfg, ctx.reporter
    hosts = deploy_hosts(cfg, "web", None)
    script = list_script(cfg, _random.token_hex(16))   # one salt for every host
    with ctx.executor() as ex:
        results = ex.run({h: script for h in hosts})
    bad = [r for r in results.values() if not r.ok]
    if bad:
        raise EssayError("; ".join(f"{r.host}: {r.error}" for r in bad))
    seen: dict[str, dict[str, str]] = {}
    for h, r in results.items():
        for item in r.data.get("secret", []):
            name, _, digest = item.partition(" ")
            seen.setdefault(name, {})[h] = digest
        mode = r.value("mode")
        if mode and mode != "600":
            rep.warn(f"{h}: {secrets_path(cfg)} has mode {mode}, expected 600")
    rows = []
    for name in sorted(seen):
        where = seen[name]
        missing = [h for h in hosts if h not in where]
        if missing:
            state = f"missing on {', '.join(missing)}"
        elif len(set(where.values())) > 1:
            state = "DIFFERS between hosts"
        else:
            state = "same on every host"
        rows.append([name, f"{len(where)}/{len(hosts)}", state])
    rep.table(["name", "hosts", "value"], rows)
    differ = sum(1 for r in rows if r[2] != "same on every host")
    rep.outcome(f"{len(rows)} secret(s) on {len(hosts)} host(s)" +
                (f"; {differ} not the same everywhere" if differ else ""), ok=not differ)
    return 1 if differ else 0
