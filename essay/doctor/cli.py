"""``es doctor``: every check, one row each; exit 0 only when all passed."""
from __future__ import annotations

from essay.doctor.checks import LOCAL, Finding, host_findings, host_script, local_findings
from essay.errors import EssayError


def findings(ctx) -> list[Finding]:
    """Every finding: essay.toml first (nothing else runs if it is invalid), then the
    local checks, then one round trip per host (web and lb checks together)."""
    try:
        cfg = ctx.cfg
    except EssayError as e:
        return [Finding(LOCAL, "essay.toml", False, str(e), "correct essay.toml "
                        "(docs/configuration.md), then run es doctor again")]
    out = local_findings(cfg)
    hosts = list(dict.fromkeys([*cfg.hosts("web"), *cfg.hosts("lb")]))
    with ctx.executor() as ex:
        results = ex.run({h: host_script(cfg, h) for h in hosts})
    for h in hosts:
        out += host_findings(cfg, results[h])
    return out


def cli_doctor(ctx) -> int:
    rep = ctx.reporter
    found = findings(ctx)
    rep.table(["host", "check", "result", "detail"],
              [[f.host, f.check, "ok" if f.ok else "FAIL", f.detail] for f in found])
    failed = [f for f in found if not f.ok]
    for f in failed:
        rep.print(f"{f.host}: {f.check}: {f.detail}" + (f"\n  fix: {f.fix}" if f.fix else ""))
    if failed:
        rep.outcome(f"{len(failed)} of {len(found)} checks failed "
                    f"({', '.join(dict.fromkeys(f.host for f in failed))}); fixes above",
                    ok=False)
        return 1
    rep.outcome(f"all {len(found)} checks passed")
    return 0
