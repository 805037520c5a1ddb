"""``es deploy VERSION --retry-failed``: deploy again to exactly the hosts that failed.

What the last deploy did is kept **locally**, in ``.essay/last-deploy.json`` of the
project: version, colour, and each host's outcome. Local, because the retry is the
follow-up of the run the user just watched, and the hosts to retry are precisely the
ones that may not answer (unreachable): they cannot be asked. The lb hosts keep what
everyone needs to know in their history (``18 of 20 hosts ok; failed: web3, web7``),
and only record the colour's version once every host has it.
"""
from __future__ import annotations

import json
import os
import time

from essay.config.loader import STATE_DIR
from essay.errors import UsageError

FILE = "last-deploy.json"


def path(cfg) -> str:
    """Per environment (``last-deploy-staging.json``) when the project has environments."""
    env = getattr(cfg, "env", None)
    name = FILE.replace(".json", f"-{env}.json") if env else FILE
    return os.path.join(cfg.root, STATE_DIR, name)


def load(cfg) -> dict | None:
    try:
        with open(path(cfg), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and isinstance(data.get("hosts"), dict) and \
        all(isinstance(data.get(k), str) for k in ("version", "color"))
    return data if ok else None


def plan(cfg, version: str, color: str | None, hosts: str | None) -> tuple[str, list[str]]:
    """The colour and hosts to retry: the last deploy's colour and its failed hosts.
    ``version`` None: check only that there is something to retry. Refused (one line, before any round trip) when there is nothing to retry or the
    version or colour is not the last deploy's."""
    if hosts:
        raise UsageError("--retry-failed and --hosts do not go together: the retry picks the "
                         "hosts (those that failed last time)")
    last = load(cfg)
    if last is None:
        raise UsageError(f"--retry-failed: no deploy recorded in "
                         f"{os.path.relpath(path(cfg), cfg.root)}; "
                         "run `es deploy VERSION` first")
    failed = [h for h, outcome in last["hosts"].items() if outcome != "ok"]
    what = f"{last['version']} into colour {last['color']}"
    if not failed:
        raise UsageError(f"--retry-failed: the last deploy ({what}) failed on no host; "
                         "nothing to retry")
    if version is not None and version != last["version"]:
        raise UsageError(f"--retry-failed: version {version} is not the last deploy's "
                         f"({what}); retry with `es deploy {last['version']} --retry-failed`")
    if color and color != last["color"]:
        raise UsageError(f"--retry-failed: --color {color} is not the last deploy's colour "
                         f"({what})")
    return last["color"], failed


def save(cfg, version: str, color: str, results: dict, outcomes: dict,
         retry: bool) -> list[str]:
    """Record this deploy's outcome per host (a retry updates the last deploy's record);
    returns the hosts that do not have ``version`` in ``color`` yet: the lbs refuse to
    flip to an incomplete colour (``incomplete_<colour>``)."""
    last = load(cfg) if retry else None
    hosts = dict(last["hosts"]) if last else {}
    hosts.update({h: outcomes[h] for h in results})
    data = {"version": version, "color": color, "time": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "hosts": hosts,
        "failed": [h for h, o in hosts.items() if o != "ok"]}
    os.makedirs(os.path.dirname(path(cfg)), exist_ok=True)
    tmp = path(cfg) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path(cfg))
    return data["failed"]
