"""Rendering the project's ``conf/*.j2`` templates with Jinja2.

The project owns its templates (``es create`` / ``es init`` put them in ``conf/``); if a
project has none, essay's built-in ones are used. Paths under ``~`` are written with a
token the remote script replaces with the remote user's ``$HOME`` (the client cannot know
it without an extra round trip). The context of each template is documented in
docs/templates.md and below.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from essay.conf_check import APP_KEEP_ALIVE, UPSTREAM_KEEPALIVE_TIMEOUT
from essay.remote import hosts as hostmod
from essay.remote.shell import home_path


def _source(cfg, name: str) -> tuple[str, str]:
    own = Path(cfg.root) / "conf" / name
    if own.exists():
        return own.read_text(), str(own)
    builtin = resources.files("essay.templates").joinpath("common", "conf", name)
    return builtin.read_text(), template_name(cfg, name)


def template_name(cfg, name: str) -> str:
    """Where ``name`` comes from: the project's ``conf/`` file, or essay's built-in one."""
    own = Path(cfg.root) / "conf" / name
    return str(own) if own.exists() else f"essay's built-in {name}"


@lru_cache(maxsize=32)
def _compiled(text: str):
    """A template compiled once: a deploy renders the same one for every host."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    return env.from_string(text)


def render(cfg, name: str, context: dict) -> str:
    import jinja2

    from essay.errors import EssayError

    text, where = _source(cfg, name)
    try:
        return _compiled(text).render(**context)
    except jinja2.TemplateError as e:
        line = f" line {e.lineno}" if getattr(e, "lineno", None) else ""
        raise EssayError(f"{where}{line}: {e.message if hasattr(e, 'message') else e}") from None


def supervisord_context(cfg, host: str, color: str, version: str, profile: str,
                        web: bool = True, workers: bool = True) -> dict:
    """``web``: the host serves (a ``web`` host; else ``ports`` is empty); ``workers``:
    it runs ``[workers]`` (a ``worker`` host; else ``workers`` is empty)."""
    from essay.config.app import server_args

    venv = home_path(cfg.color_dir(color))
    return {
        "name": cfg.name, "package": cfg.package, "version": version, "color": color,
        "profile": profile, "host": host, "venv": venv, "prefix": home_path(cfg.prefix),
        "base_port": cfg.colors[color], "processes": cfg.processes,
        "ports": cfg.ports[color] if web else [], "etc_dir": f"{venv}/etc", "run_dir": f"{venv}/run",
        "log_dir": f"{venv}/logs", "socket": f"{venv}/run/supervisor.sock",
        "health_path": cfg.health_path, "essay_exec": f"{venv}/bin/essay-exec",
        "keep_alive": APP_KEEP_ALIVE, "drain_timeout": int(-(-cfg.drain_timeout // 1)),
        "app": cfg.app, "server": cfg.server, "server_args": " ".join(server_args(cfg.server)),
        "workers": {n: worker_command(c) for n, c in cfg.workers.items()} if workers else {},
    }


def worker_command(command: str) -> str:
    """A ``[workers]`` command as a supervisord ``command =`` value: run by ``/bin/sh``
    (supervisord splits the line like a shell; ``%`` is its interpolation character)."""
    from essay.remote.shell import q

    return f"/bin/sh -c {q(command)}".replace("%", "%%")


def supervisord_conf(cfg, host, color, version, profile, web=True, workers=True) -> str:
    return render(cfg, "supervisord.conf.j2",
                  supervisord_context(cfg, host, color, version, profile, web, workers))


def check_workers(cfg, host: str, conf: str) -> None:
    """Refuse a supervisord conf rendered for a ``worker`` host without a
    ``[program:worker-NAME]`` for every ``[workers]`` entry: essay starts and stops workers
    by those names, so a template that ignores ``workers`` would deploy none (and a flip
    would have nothing to start)."""
    from essay.errors import EssayError

    missing = [n for n in cfg.workers if f"[program:worker-{n}]" not in conf]
    if missing and host in cfg.worker_hosts():
        where = template_name(cfg, "supervisord.conf.j2")
        raise EssayError(
            f"essay.toml [workers] sets {', '.join(missing)}, but {where} renders no "
            f"{', '.join(f'[program:worker-{n}]' for n in missing)} for {host}: the template "
            "does not use `workers`; copy the workers block of essay's built-in template into "
            "it (docs/templates.md#confsupervisordconfj2; es doctor), or remove [workers]")


def nginx_context(cfg) -> dict:
    state = home_path(cfg.nginx_state_dir)
    web = cfg.hosts("web")
    hostmod.prefetch(web)
    return {
        "name": cfg.name, "var": cfg.package.replace("-", "_"),
        "listen": cfg.nginx_listen, "server_name": cfg.nginx_server_name,
        "colors": list(cfg.colors),
        "upstreams": {c: [f"{hostmod.address(h)}:{p}" for h in web for p in ports]
                      for c, ports in cfg.ports.items()},
        "state_dir": state, "live_dir": f"{state}/live",
        "health_path": cfg.health_path,
        "upstream_keepalive_timeout": UPSTREAM_KEEPALIVE_TIMEOUT,
        "client_max_body_size": cfg.nginx_client_max_body_size,
    }


#: The first line of every site file essay renders: an existing file at [nginx] site that
#: does not start with it (or, from earlier versions, LEGACY_SITE_MARK) is never overwritten.
SITE_MARK = "# essay: site file"
LEGACY_SITE_MARK = "# nginx site for "


def nginx_conf(cfg) -> str:
    context = nginx_context(cfg)
    return (f"{SITE_MARK} for {cfg.name}; essay overwrites [nginx] site only when it starts "
            "with this line\n" + cached(cfg, "nginx.conf.j2", context,
                                        lambda: render(cfg, "nginx.conf.j2", context)))


def cached(cfg, name: str, context: dict, produce) -> str:
    """``produce()`` (a render of template ``name`` with ``context``), kept in the user's
    cache directory under the hash of everything the output depends on: the template's
    text, the context, and the installed essay and Jinja2 files. A flip or rollback then
    skips importing Jinja2 and compiling the template (~90 ms of a rollback, measured)."""
    import hashlib
    import json
    import os
    from importlib.util import find_spec

    text, _ = _source(cfg, name)
    stamp = []   # the files whose code makes the output: Jinja2's, essay's, this module
    for path in [getattr(find_spec(m), "origin", None) for m in ("jinja2", "essay")] + [__file__]:
        st = os.stat(path) if path else None
        stamp.append([path, st and st.st_mtime_ns, st and st.st_size])
    key = hashlib.sha256(json.dumps([text, context, stamp], sort_keys=True,
                                    default=str).encode()).hexdigest()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    path = Path(base, "essay", "render", key)
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    out = produce()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(out, encoding="utf-8")
        os.replace(tmp, path)
        for old in sorted(path.parent.iterdir(), key=lambda p: p.stat().st_mtime)[:-64]:
            old.unlink(missing_ok=True)   # the newest 64 renders are kept
    except OSError:
        pass   # a cache that cannot be written is only slower
    return out
